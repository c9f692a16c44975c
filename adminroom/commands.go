package adminroom

import (
	"context"
	"fmt"
	"strings"

	"maunium.net/go/mautrix/id"
)

// Request is one accepted command from an admin.
type Request struct {
	Sender id.UserID
	Name   string
	Args   []string
}

// arg returns the i-th argument, or "" when it was left out.
func (r Request) arg(i int) string {
	if i < len(r.Args) {
		return r.Args[i]
	}
	return ""
}

// Command is one command: its syntax, help, who may run it, and what it does. Every command is
// declared in commands, and authorisation and argument checks happen once, before Run.
type Command struct {
	Syntax
	Help string
	// RequiresAdmin is checked before anything else; a non-admin gets a refusal.
	RequiresAdmin bool
	Run           func(ctx context.Context, req Request) Reply
}

// commands is the command table.
func (b *Bot) commands() []Command {
	user := Arg{Name: "@user", Kind: ArgUser}
	optRoom := Arg{Name: "room", Kind: ArgRoom, Optional: true}
	optUser := Arg{Name: "@user", Kind: ArgUser, Optional: true}
	batchArg := Arg{Name: "id"}
	return []Command{
		{Syntax: Syntax{Name: "help", Aliases: []string{"?", "h"}, Args: []Arg{{Name: "command", Optional: true}}},
			Help: "list the commands, or explain one", RequiresAdmin: true, Run: b.help},
		{Syntax: Syntax{Name: "status", Aliases: []string{"st"}},
			Help: "leader, last cycle, next run, and per mapping: group size, room members, pending removals, errors", RequiresAdmin: true, Run: b.status},
		{Syntax: Syntax{Name: "mappings", Aliases: []string{"map"}},
			Help: "the configured group → room mappings", RequiresAdmin: true, Run: b.mappings},
		{Syntax: Syntax{Name: "plan"},
			Help: "what the next cycle would do, by room; nothing is changed", RequiresAdmin: true, Run: b.plan},
		{Syntax: Syntax{Name: "why", Args: []Arg{user, optRoom}},
			Help: "why a user is, or is not, in each mapped room (or one): their groups, pending removal, exemption, protection, power level, last action", RequiresAdmin: true, Run: b.why},
		{Syntax: Syntax{Name: "now", Aliases: []string{"sync", "run"}},
			Help: "run a cycle now and reply with its summary", RequiresAdmin: true, Run: b.now},
		{Syntax: Syntax{Name: "pending"},
			Help: "removals waiting for their grace period, and held batches", RequiresAdmin: true, Run: b.pending},
		{Syntax: Syntax{Name: "cancel", Args: []Arg{user, optRoom}},
			Help: "drop a pending removal and exempt the user until they are back in a group", RequiresAdmin: true, Run: b.cancel},
		{Syntax: Syntax{Name: "exempt", Args: []Arg{user, optRoom}},
			Help: "never remove this user (in every room, or one)", RequiresAdmin: true, Run: b.exempt},
		{Syntax: Syntax{Name: "unexempt", Args: []Arg{user}},
			Help: "lift every exemption of this user", RequiresAdmin: true, Run: b.unexempt},
		{Syntax: Syntax{Name: "confirm", Args: []Arg{batchArg}},
			Help: "carry out a held mass removal", RequiresAdmin: true, Run: b.confirm},
		{Syntax: Syntax{Name: "reject", Args: []Arg{batchArg}},
			Help: "drop a held mass removal; its users are exempt until back in a group", RequiresAdmin: true, Run: b.reject},
		{Syntax: Syntax{Name: "doctor"},
			Help: "check Authentik, the homeserver, the mapped groups and rooms and the bot's power; changes nothing", RequiresAdmin: true, Run: b.doctor},
		{Syntax: Syntax{Name: "backup"},
			Help: "take a manual state backup now (kept until deleted: only the backups before removals rotate)", RequiresAdmin: true, Run: b.backup},
		{Syntax: Syntax{Name: "pause"},
			Help: "stop all writes (kept across restarts)", RequiresAdmin: true, Run: b.pause},
		{Syntax: Syntax{Name: "resume"},
			Help: "start writing again", RequiresAdmin: true, Run: b.resume},
		{Syntax: Syntax{Name: "audit", Args: []Arg{optUser}},
			Help: "the latest audit log entries, for everyone or one user", RequiresAdmin: true, Run: b.auditLog},
	}
}

func syntaxes(cmds []Command) []Syntax {
	out := make([]Syntax, len(cmds))
	for i, c := range cmds {
		out[i] = c.Syntax
	}
	return out
}

// run dispatches an accepted command.
func (b *Bot) run(ctx context.Context, req Request) Reply {
	for _, c := range b.commands() {
		if c.Name == req.Name {
			return c.Run(ctx, req)
		}
	}
	return plainReply("Unknown command %q. Say %s help for the list.", req.Name, b.opts.Prefix)
}

func (b *Bot) help(_ context.Context, req Request) Reply {
	var t text
	p := b.opts.Prefix
	if name := strings.ToLower(req.arg(0)); name != "" {
		for _, c := range b.commands() {
			if c.Name == name || contains(c.Aliases, name) {
				t.code("", p+" "+c.Usage()).line("%s", c.Help)
				if len(c.Aliases) > 0 {
					t.line("Also: %s", strings.Join(c.Aliases, ", "))
				}
				return t.reply()
			}
		}
		return plainReply("Unknown command %q. Say %s help for the list.", name, p)
	}
	t.head("Commands (prefix %s)", p)
	for _, c := range b.commands() {
		t.item("%s — %s", c.Usage(), c.Help)
	}
	return t.reply()
}

// describeErr is the reply for a command that failed.
func describeErr(what string, err error) Reply {
	return plainReply("%s failed: %s", what, errText(err))
}

func fmtCount(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
