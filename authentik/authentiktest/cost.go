package authentiktest

import "time"

// CostModel prices the fake's answers in the CPU time a real Authentik's server would spend on
// them, so that a benchmark can tell what a way of reading costs Authentik without one. The
// fake adds the price of each answer to a counter (ModelledCPU); it never sleeps.
type CostModel struct {
	// PerRequest is what any answer costs on its own: authentication, permission checks, the
	// count of a page.
	PerRequest time.Duration
	// PerUserRow is what each user in an answer of core/users/ costs (a listing's rows, or the
	// one user of a retrieval).
	PerUserRow time.Duration
	// PerMemberRow is what each user in a group's users_obj costs, in core/groups/ listings
	// and retrievals alike.
	PerMemberRow time.Duration
}

// MeasuredCost is what a real Authentik 2025.12.4 (server and worker, Postgres) spent with
// 10,000 users in 100 groups, 20,000 memberships: a member read through core/users/?groups_by_pk=
// took 81 s of server CPU, some 4 ms a user row (about four SQL queries each); the same members
// through core/groups/?include_users=true took 1.6 s, some 0.08 ms a users_obj row. PerRequest
// was not measured apart: 10 ms is this model's own assumption.
var MeasuredCost = CostModel{PerRequest: 10 * time.Millisecond, PerUserRow: 4 * time.Millisecond, PerMemberRow: 80 * time.Microsecond}

// SetCostModel makes every later answer add its price under m to ModelledCPU; the zero
// CostModel (the default) prices nothing.
func (s *Server) SetCostModel(m CostModel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cost = m
}

// ModelledCPU is the CPU time the answers so far would have cost a real Authentik, under the
// cost model in force when each was served.
func (s *Server) ModelledCPU() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.modelledCPU
}

// ResetModelledCPU sets ModelledCPU back to zero.
func (s *Server) ResetModelledCPU() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.modelledCPU = 0
}

// charge adds an answer's price; s.mu is held.
func (s *Server) charge(userRows, memberRows int) {
	s.modelledCPU += time.Duration(userRows)*s.cost.PerUserRow + time.Duration(memberRows)*s.cost.PerMemberRow
}

// ReplaceToken makes newToken stand for whoever oldToken stood for, and oldToken invalid
// (answered 403 "Token invalid/expired"), as when an operator rotates the bot's API token in
// Authentik. It panics when oldToken is unknown or newToken already taken.
func (s *Server) ReplaceToken(oldToken, newToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.tokens[oldToken]
	if !ok {
		panic("authentiktest: ReplaceToken: unknown token")
	}
	if _, taken := s.tokens[newToken]; taken || newToken == "" {
		panic("authentiktest: ReplaceToken: the new token is empty or already in use")
	}
	delete(s.tokens, oldToken)
	s.tokens[newToken] = h
}
