package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// writeUsage prints every command of the table with its own flags.
func writeUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: authentik-matrix-sync [-c config.yaml] [COMMAND] [FLAGS]\n"+
		"       authentik-matrix-sync [-c config.yaml] -g [-r registration.yaml] [-force]   write an appservice registration\n\n"+
		"Every command takes -c config.yaml (default: $CONFIG_FILE, else ./config.yaml if it exists, else\n"+
		"environment variables only), before or after the command.\n\nCommands:\n")
	// A long synopsis gets its help on the next line instead of widening every row.
	const width = 24
	for i := range commands {
		c := &commands[i]
		synopsis := strings.TrimSpace(c.name + " " + c.args)
		if len(synopsis) > width {
			fmt.Fprintf(w, "  %s\n  %-*s  %s\n", synopsis, width, "", c.help)
		} else {
			fmt.Fprintf(w, "  %-*s  %s\n", width, synopsis, c.help)
		}
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.flags(fs)
		fs.VisitAll(func(f *flag.Flag) {
			name, usage := flag.UnquoteUsage(f)
			flagText := strings.TrimSpace("-" + f.Name + " " + name)
			def := ""
			if f.DefValue != "" && f.DefValue != "false" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(w, "      %-*s  %s%s\n", width-4, flagText, usage, def)
		})
	}
}
