package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// subcommand is one entry of the usage text; every command run accepts is listed here
// (TestUsageListsEveryCommand reads main.go's dispatch to check).
type subcommand struct {
	name, args, help string
}

var subcommands = []subcommand{
	{"run", "", "run the bot (the default when no command is given)"},
	{"plan", "[-why @user [-room !id|#alias]]", "print what the next cycle would do; change nothing; -why explains one user room by room"},
	{"doctor", "", "check Authentik, the homeserver, the mapped groups and rooms; change nothing; exit 0 when every check passes (warnings included)"},
	{"healthcheck", "[-live]", "exit 0 if the running bot's /ready (-live: /health) answers 200"},
	{"backup", "", "take a backup of the state now"},
	{"restore", "[-force] FILE", "replace the state with a backup (stop the bot first)"},
	{"migrate-store", "-from sqlite:PATH [-to postgres://…] [-force]", "copy SQLite state into Postgres"},
	{"version", "", "print the version"},
	{"help", "", "print this text"},
}

// writeUsage prints the commands and the flags.
func writeUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: authentik-matrix-sync [-c config.yaml] [COMMAND]\n"+
		"       authentik-matrix-sync [-c config.yaml] -g [-r registration.yaml] [-force]   write an appservice registration\n\nCommands:\n")
	// A long synopsis gets its help on the next line instead of widening every row.
	const width = 24
	for _, c := range subcommands {
		synopsis := strings.TrimSpace(c.name + " " + c.args)
		if len(synopsis) > width {
			fmt.Fprintf(w, "  %s\n  %-*s  %s\n", synopsis, width, "", c.help)
			continue
		}
		fmt.Fprintf(w, "  %-*s  %s\n", width, synopsis, c.help)
	}
	fmt.Fprintf(w, "\nFlags:\n")
	out := fs.Output()
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(out)
}
