// Package plan is the planner: given the policy (which groups map to which rooms, and how), what
// a cycle observed (the groups' members, the rooms' members and power levels, what the directory
// says of accounts) and what the store remembers (managed members, pending removals, grants,
// exemptions…), MakePlan returns the actions that bring the rooms in step, and the warnings an
// operator should see. It reads no clock, does no I/O and imports no package of the project that
// does: values in, values out. Every rule of who is added, removed, raised or locked lives here,
// the safety rule among them (see docs/how-it-works.md); Explain renders the same rules for one
// user (`why`), and CheckRemovals is the mass-removal guard. Package reconcile observes, plans
// with this package and applies the plan.
package plan
