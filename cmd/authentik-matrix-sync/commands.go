package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/app"
	"authentik-matrix-sync/config"
)

// command is one subcommand: its line in `help`, its own flags, and what runs it. Every command
// has -c; a flag of another command is refused with where it belongs (see parseError).
type command struct {
	name, args, help string
	// flags declares the command's own flags on fs and returns what runs the command once they are
	// parsed, given the config file flag and the positional arguments.
	flags func(fs *flag.FlagSet) func(ctx context.Context, cfgPath string, args []string) int
	// interleaved lets positional arguments and flags mix (restore FILE -c x.yaml).
	interleaved bool
}

// commands is every command, in the order `help` lists them; init fills it, as help's runner
// lists it.
var commands []command

func init() {
	commands = []command{
		{name: "run", help: "run the bot (the default when no command is given)", flags: runFlags},
		{name: "plan", args: "[-why @user [-room !id|#alias]]", help: "print what the next cycle would do; change nothing; -why explains one user room by room",
			flags: func(fs *flag.FlagSet) func(context.Context, string, []string) int {
				why := fs.String("why", "", "explain one user (@user:server) room by room instead of printing the plan")
				room := fs.String("room", "", "with -why: explain only this room (!id:server or #alias:server)")
				return func(ctx context.Context, cfgPath string, args []string) int {
					if len(args) > 0 {
						return unexpected("plan", args)
					}
					if *room != "" && *why == "" {
						fmt.Fprintln(os.Stderr, "-room goes with -why (plan -why @user:server -room !id:server)")
						return 2
					}
					return exitWith(app.PrintPlan(ctx, cfgPath, app.WhyRequest{User: id.UserID(*why), Room: id.RoomID(*room)}, os.Stdout))
				}
			}},
		{name: "doctor", help: "check Authentik, the homeserver, the mapped groups and rooms; change nothing; exit 0 when every check passes (warnings included)",
			flags: func(*flag.FlagSet) func(context.Context, string, []string) int {
				return func(ctx context.Context, cfgPath string, args []string) int {
					if len(args) > 0 {
						return unexpected("doctor", args)
					}
					ok, err := app.RunDoctor(ctx, cfgPath, os.Stdout)
					if err == nil && !ok {
						return 1
					}
					return exitWith(err)
				}
			}},
		{name: "healthcheck", args: "[-live]", help: "exit 0 if the running bot's /ready (-live: /health) answers 200",
			flags: func(fs *flag.FlagSet) func(context.Context, string, []string) int {
				live := fs.Bool("live", false, "ask /health (the process runs) instead of /ready")
				return func(ctx context.Context, cfgPath string, args []string) int {
					if len(args) > 0 {
						return unexpected("healthcheck", args)
					}
					return exitWith(app.Healthcheck(ctx, cfgPath, *live))
				}
			}},
		{name: "backup", help: "take a backup of the state now",
			flags: func(*flag.FlagSet) func(context.Context, string, []string) int {
				return func(ctx context.Context, cfgPath string, args []string) int {
					if len(args) > 0 {
						return exitWith(fmt.Errorf("backup takes no arguments, got %v", args))
					}
					return withConfig(cfgPath, func(cfg *config.Config) error { return app.BackupNow(ctx, cfg) })
				}
			}},
		{name: "restore", args: "[-force] FILE", help: "replace the state with a backup (stop the bot first)", interleaved: true,
			flags: func(fs *flag.FlagSet) func(context.Context, string, []string) int {
				force := fs.Bool("force", false, "go on although another instance holds the leader lock (Postgres)")
				return func(ctx context.Context, cfgPath string, args []string) int {
					if len(args) != 1 {
						return exitWith(fmt.Errorf("usage: authentik-matrix-sync restore [-c config.yaml] [-force] BACKUP_FILE"))
					}
					return withConfig(cfgPath, func(cfg *config.Config) error { return app.Restore(ctx, cfg, args[0], *force) })
				}
			}},
		{name: "migrate-store", args: "-from sqlite:PATH [-to postgres://…] [-force]", help: "copy SQLite state into Postgres",
			flags: func(fs *flag.FlagSet) func(context.Context, string, []string) int {
				from := fs.String("from", "", "the source, sqlite:PATH (the database file or its DATA_DIR)")
				to := fs.String("to", "", "the target postgres:// URL (default: the configured database.uri)")
				force := fs.Bool("force", false, "copy into a target that already holds state")
				return func(ctx context.Context, cfgPath string, args []string) int {
					if len(args) > 0 {
						return exitWith(fmt.Errorf("migrate-store takes no arguments, got %v", args))
					}
					return withConfig(cfgPath, func(cfg *config.Config) error { return app.MigrateStore(ctx, cfg, *from, *to, *force) })
				}
			}},
		{name: "version", help: "print the version",
			flags: func(*flag.FlagSet) func(context.Context, string, []string) int {
				return func(_ context.Context, _ string, args []string) int {
					if len(args) > 0 {
						return unexpected("version", args)
					}
					fmt.Println("authentik-matrix-sync", app.Version)
					return 0
				}
			}},
		{name: "help", help: "print this text",
			flags: func(*flag.FlagSet) func(context.Context, string, []string) int {
				return func(context.Context, string, []string) int {
					writeUsage(os.Stdout)
					return 0
				}
			}},
	}
}

// runFlags are the bare command's: run the bot, or with -g write a registration.
func runFlags(fs *flag.FlagSet) func(context.Context, string, []string) int {
	generate := fs.Bool("g", false, "generate an appservice registration file and exit")
	registrationPath := fs.String("r", "registration.yaml", "with -g: where to write the registration")
	overwrite := fs.Bool("force", false, "with -g: overwrite an existing registration file (its new tokens work once the homeserver restarts)")
	return func(ctx context.Context, cfgPath string, args []string) int {
		if len(args) > 0 {
			return unexpected("run", args)
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		switch {
		case *generate:
			return exitWith(app.GenerateRegistration(cfgPath, *registrationPath, *overwrite))
		case set["force"]:
			fmt.Fprintln(os.Stderr, misplacedForce)
			return 2
		case set["r"]:
			fmt.Fprintln(os.Stderr, "-r goes with -g (authentik-matrix-sync -g -r registration.yaml)")
			return 2
		}
		return exitWith(app.RunBot(ctx, cfgPath))
	}
}

// commandNamed returns the command called name, or nil.
func commandNamed(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// flagOwner names the command that declares the flag, "" if none does (-c is every command's).
func flagOwner(name string) string {
	for i := range commands {
		fs := flag.NewFlagSet(commands[i].name, flag.ContinueOnError)
		commands[i].flags(fs)
		if fs.Lookup(name) != nil {
			return commands[i].name
		}
	}
	return ""
}

// flagSet returns the command's flags, -c among them, and what runs it once they are parsed.
func (c *command) flagSet() (*flag.FlagSet, func(fs *flag.FlagSet, args []string) int) {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(discard)
	cfgFlag := fs.String("c", "", "config file (default: $CONFIG_FILE, else ./config.yaml if it exists, else environment variables only)")
	runner := c.flags(fs)
	return fs, func(fs *flag.FlagSet, args []string) int {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runner(ctx, resolveConfigPath(*cfgFlag), args)
	}
}

// parse parses args with fs; an interleaved command's positional arguments may come between
// flags, and are left in fs.Args().
func (c *command) parse(fs *flag.FlagSet, args []string) error {
	if !c.interleaved {
		return fs.Parse(args)
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}

// writeUsage prints the command's synopsis and flags.
func (c *command) writeUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: authentik-matrix-sync %s\n  %s\n\nFlags:\n", strings.TrimSpace(c.name+" [-c config.yaml] "+c.args), c.help)
	fs, _ := c.flagSet()
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// withConfig loads the configuration at path and runs fn with it.
func withConfig(path string, fn func(cfg *config.Config) error) int {
	cfg, err := app.LoadConfig(path)
	if err != nil {
		return exitWith(err)
	}
	return exitWith(fn(cfg))
}

// unexpected refuses positional arguments a command does not take.
func unexpected(name string, args []string) int {
	fmt.Fprintf(os.Stderr, "unexpected arguments after %q: %v\n", name, args)
	return 2
}
