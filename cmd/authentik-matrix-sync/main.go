// Command authentik-matrix-sync keeps Matrix room membership in step with Authentik groups.
//
//	authentik-matrix-sync [-c config.yaml]                 run the bot
//	authentik-matrix-sync [-c config.yaml] plan            print what the next cycle would do; change nothing
//	authentik-matrix-sync [-c config.yaml] plan -why @user [-room !id|#alias]   explain one user, room by room
//	authentik-matrix-sync [-c config.yaml] doctor          check the setup, one line a check; exit 0 only when all pass
//	authentik-matrix-sync [-c config.yaml] healthcheck [-live]   exit 0 if the running bot's /ready (-live: /health) answers 200
//	authentik-matrix-sync [-c config.yaml] backup          take a backup of the state now
//	authentik-matrix-sync [-c config.yaml] restore [-force] FILE   replace the state with a backup
//	authentik-matrix-sync migrate-store -from sqlite:PATH [-to postgres://…] [-force]   copy SQLite state into Postgres
//	authentik-matrix-sync [-c config.yaml] -g [-r registration.yaml] [-force]   write an appservice registration
//	authentik-matrix-sync version
//	authentik-matrix-sync help                             list the commands and flags
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"maunium.net/go/mautrix/id"
)

// misplacedForce answers a -force without -g: restore and migrate-store parse their own.
const misplacedForce = "-force belongs to -g (overwrite an existing registration); restore and migrate-store take it after the command: restore -force FILE"

// Set by the build (-ldflags "-X main.version=…").
var version = "dev"

func main() {
	tuneGC()
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("authentik-matrix-sync", flag.ContinueOnError)
	configPath := fs.String("c", "", "config file (default: $CONFIG_FILE, else ./config.yaml if it exists, else environment variables only)")
	generate := fs.Bool("g", false, "generate an appservice registration file and exit")
	registrationPath := fs.String("r", "registration.yaml", "where -g writes the registration")
	overwrite := fs.Bool("force", false, "-g: overwrite an existing registration file (its new tokens work once the homeserver restarts)")
	live := fs.Bool("live", false, "healthcheck: ask /health (the process runs) instead of /ready")
	why := fs.String("why", "", "plan: explain one user (@user:server) room by room instead of printing the plan")
	whyRoom := fs.String("room", "", "plan -why: explain only this room (!id:server or #alias:server)")
	fs.Usage = func() { writeUsage(fs.Output(), fs) }
	// The command may come before or after the flags: `plan -c x.yaml` and `-c x.yaml plan`.
	command := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		command, args = args[0], args[1:]
	}
	if isStoreCommand(command) {
		return storeCommandExit(runStoreCommand(command, "", args))
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if rest := fs.Args(); command == "" && len(rest) > 0 && isStoreCommand(rest[0]) {
		if *overwrite {
			fmt.Fprintln(os.Stderr, misplacedForce)
			return 2
		}
		return storeCommandExit(runStoreCommand(rest[0], *configPath, rest[1:]))
	}
	if command == "" && fs.NArg() > 0 {
		command = fs.Arg(0)
		// Flags may follow the command too: `-c x.yaml healthcheck -live`.
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return 2
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(os.Stderr, "unexpected arguments after %q: %v\n", command, fs.Args())
			return 2
		}
	} else if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments after %q: %v\n", command, fs.Args())
		return 2
	}
	if command == "" {
		command = "run"
	}
	if fs.NArg() > 1 {
		fmt.Fprintf(os.Stderr, "unexpected arguments after %q: %v\n", command, fs.Args()[1:])
		return 2
	}
	switch command {
	case "version":
		fmt.Println("authentik-matrix-sync", version)
		return 0
	case "help":
		writeUsage(os.Stdout, fs)
		return 0
	}
	if msg := misplacedFlag(fs, command); msg != "" {
		fmt.Fprintln(os.Stderr, msg)
		return 2
	}
	if (*why != "" && command != "plan") || (*whyRoom != "" && *why == "") {
		fmt.Fprintln(os.Stderr, "-why belongs to the plan command (plan -why @user:server), and -room to plan -why")
		return 2
	}
	if *overwrite && !*generate {
		fmt.Fprintln(os.Stderr, misplacedForce)
		return 2
	}
	path := resolveConfigPath(*configPath)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	switch {
	case *generate:
		err = generateRegistration(path, *registrationPath, *overwrite)
	case command == "run":
		err = runBot(ctx, path)
	case command == "plan":
		err = printPlan(ctx, path, whyRequest{User: id.UserID(*why), Room: id.RoomID(*whyRoom)}, os.Stdout)
	case command == "healthcheck":
		err = healthcheck(ctx, path, *live)
	case command == "doctor":
		var ok bool
		if ok, err = runDoctor(ctx, path, os.Stdout); err == nil && !ok {
			return 1
		}
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n", command)
		fs.Usage()
		return 2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "authentik-matrix-sync:", err)
		return 1
	}
	return 0
}

// flagCommands names the commands each command-specific flag belongs to; a flag not listed
// (-c) belongs to every command. -g makes a registration instead of running, so it and the
// flags that go with it belong to the bare command.
var flagCommands = map[string][]string{
	"g": {"run"}, "r": {"run"}, // -force has a refusal of its own (misplacedForce)
	"live": {"healthcheck"},
	"why":  {"plan"}, "room": {"plan"},
}

// misplacedFlag returns the refusal of a flag given to a command it does nothing for (doctor
// -live, plan -g), or "" when every flag set belongs to command.
func misplacedFlag(fs *flag.FlagSet, command string) string {
	var msg string
	fs.Visit(func(f *flag.Flag) {
		allowed, specific := flagCommands[f.Name]
		if msg != "" || !specific || slices.Contains(allowed, command) {
			return
		}
		where := allowed[0]
		if where == "run" {
			where = "no command (authentik-matrix-sync -g)"
		}
		msg = fmt.Sprintf("-%s does nothing for %s: it belongs to %s; see authentik-matrix-sync help", f.Name, command, where)
	})
	return msg
}

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
