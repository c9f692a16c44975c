// Command authentik-matrix-sync keeps Matrix room membership in step with Authentik groups.
//
//	authentik-matrix-sync [-c config.yaml]                 run the bot
//	authentik-matrix-sync [-c config.yaml] plan            print what the next cycle would do; change nothing
//	authentik-matrix-sync [-c config.yaml] plan -why @user [-room !id|#alias]   explain one user, room by room
//	authentik-matrix-sync [-c config.yaml] doctor          check the setup, one line a check; exit 0 unless a check fails
//	authentik-matrix-sync [-c config.yaml] healthcheck [-live]   exit 0 if the running bot's /ready (-live: /health) answers 200
//	authentik-matrix-sync [-c config.yaml] backup          take a backup of the state now
//	authentik-matrix-sync [-c config.yaml] restore [-force] FILE   replace the state with a backup
//	authentik-matrix-sync migrate-store -from sqlite:PATH [-to postgres://…] [-force]   copy SQLite state into Postgres
//	authentik-matrix-sync [-c config.yaml] -g [-r registration.yaml] [-force]   write an appservice registration
//	authentik-matrix-sync version
//	authentik-matrix-sync help                             list the commands and flags
//
// The commands, their flags and what runs them are one table (commands.go).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"authentik-matrix-sync/app"
)

func main() {
	app.TuneGC()
	os.Exit(run(os.Args[1:]))
}

// run parses the command line and runs the command; it returns the exit code: 0 done, 1 failed,
// 2 the command line is wrong.
func run(args []string) int {
	// Flags may come before the command (`-c x.yaml plan`), after it (`plan -c x.yaml`), or
	// both. Those before it are parsed as the bare command's, which has -c and -g's flags.
	bare := commandNamed("run")
	fs, runBare := bare.flagSet()
	if err := fs.Parse(args); err != nil {
		return parseError(err, fs, bare, "")
	}
	if fs.NArg() == 0 {
		return runBare(fs, nil)
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	c := commandNamed(name)
	if c == nil {
		fmt.Fprintf(os.Stderr, "unknown command %q; see authentik-matrix-sync help\n", name)
		return 2
	}
	if c.name == "run" {
		fmt.Fprintln(os.Stderr, "run is the default: give its flags without it (authentik-matrix-sync -c config.yaml)")
		return 2
	}
	var misplaced string
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "c" && misplaced == "" {
			misplaced = f.Name
		}
	})
	if misplaced != "" {
		fmt.Fprintln(os.Stderr, doesNothingFor(misplaced, c.name))
		return 2
	}
	cfs, runCommand := c.flagSet()
	if config := fs.Lookup("c").Value.String(); config != "" {
		_ = cfs.Set("c", config)
	}
	if err := c.parse(cfs, rest); err != nil {
		return parseError(err, cfs, c, c.name)
	}
	return runCommand(cfs, cfs.Args())
}

// parseError answers a command line the flags of c refused: help on -h, where a flag belongs
// when another command owns it, else the flag package's word and the command's usage.
func parseError(err error, fs *flag.FlagSet, c *command, name string) int {
	if errors.Is(err, flag.ErrHelp) {
		if name == "" {
			writeUsage(os.Stdout)
		} else {
			c.writeUsage(os.Stdout)
		}
		return 0
	}
	if flagName, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
		if name == "" {
			name = "no command"
			if owner := flagOwner(flagName); owner != "" {
				fmt.Fprintf(os.Stderr, "-%s belongs to %s: give it after the command (authentik-matrix-sync %s -%s); see authentik-matrix-sync help\n",
					flagName, owner, owner, flagName)
				return 2
			}
		}
		fmt.Fprintln(os.Stderr, doesNothingFor(flagName, name))
		return 2
	}
	fmt.Fprintln(os.Stderr, err)
	if name == "" {
		writeUsage(os.Stderr)
	} else {
		c.writeUsage(os.Stderr)
	}
	return 2
}

// doesNothingFor is the refusal of a flag given to a command it does nothing for (doctor -live,
// plan -g).
func doesNothingFor(flagName, commandName string) string {
	if flagName == "force" {
		return misplacedForce
	}
	owner := flagOwner(flagName)
	if owner == "" {
		return fmt.Sprintf("-%s: no such flag; see authentik-matrix-sync help", flagName)
	}
	if owner == "run" {
		owner = "no command (authentik-matrix-sync -g)"
	}
	return fmt.Sprintf("-%s does nothing for %s: it belongs to %s; see authentik-matrix-sync help", flagName, commandName, owner)
}

// misplacedForce answers a -force that went to the wrong place: each of -g, restore and
// migrate-store takes its own.
const misplacedForce = "-force belongs to -g (overwrite an existing registration), to restore and to migrate-store, each after its own command: restore -force FILE"

// resolveConfigPath picks the config file: the flag, then $CONFIG_FILE, then ./config.yaml if it
// exists; "" means environment variables only (a Compose setup without a config file).
func resolveConfigPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if env := os.Getenv("CONFIG_FILE"); env != "" {
		return env
	}
	if _, err := os.Stat("config.yaml"); err == nil {
		return "config.yaml"
	}
	return ""
}

// exitWith reports err and returns the exit code.
func exitWith(err error) int {
	if err != nil {
		fmt.Fprintln(os.Stderr, "authentik-matrix-sync:", err)
		return 1
	}
	return 0
}

// discard is where a FlagSet writes: run reports parse errors itself.
var discard io.Writer = io.Discard
