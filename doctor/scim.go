package doctor

// checkSCIMTree is the line of directory.source scim: Authentik's SCIM provider pushes direct
// group members only, so the bot reads Authentik's group tree from its API each cycle to count
// the members of subgroups; without it, no SCIM group is complete and nobody is ever removed.
// The tree is the group listing the permissions check read, so this line follows that one.
func checkSCIMTree(in Input, authentik []Result) []Result {
	if !in.DirectorySCIM {
		return nil
	}
	const check = "SCIM directory: group tree"
	for _, r := range authentik {
		if r.Check == "Authentik permissions" && r.Outcome == Pass {
			return []Result{{Check: check, Outcome: Pass,
				Detail: "read from Authentik's API each cycle: members of subgroups count, which the SCIM provider does not push"}}
		}
	}
	return []Result{{Check: check, Outcome: Fail,
		Detail: "Authentik's group tree cannot be read, so with directory.source scim no group is complete and nobody is removed",
		Hint:   "the SCIM provider pushes direct members only; fix the Authentik lines above (authentik.url / AUTHENTIK_URL, authentik.token / AUTHENTIK_TOKEN, a token whose user may view groups)"}}
}
