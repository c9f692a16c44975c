package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"authentik-matrix-sync/appservice"
	"authentik-matrix-sync/config"
)

// GenerateRegistration writes an appservice registration with new tokens (-g). An existing file
// is kept unless overwrite (-force) is set: the homeserver reads the tokens only when it starts,
// so until it restarts it refuses the new ones and the bot cannot start.
func GenerateRegistration(configPath, registrationPath string, overwrite bool) error {
	_, err := os.Stat(registrationPath)
	existed := err == nil
	switch {
	case existed && !overwrite:
		return fmt.Errorf("%s exists: overwriting it makes new tokens, which the homeserver does not know until it restarts, "+
			"so the bot could not start meanwhile; keep it, write elsewhere with -r, or pass -force to overwrite it anyway", registrationPath)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("check whether the registration %s exists: %w", registrationPath, err)
	}
	cfg, err := config.LoadForGenerate(configPath, os.LookupEnv)
	if err != nil {
		return err
	}
	reg, err := appservice.GenerateRegistration(cfg.Appservice.ID, cfg.Appservice.Address, cfg.Appservice.BotUsername, cfg.Homeserver.Domain)
	if err != nil {
		return err
	}
	if err := reg.Save(registrationPath); err != nil {
		return err
	}
	fmt.Printf("Wrote %s.\n", registrationPath)
	if existed {
		fmt.Println("It replaced the previous file: its tokens work once Synapse restarts; restart Synapse, then the bot.")
	}
	fmt.Printf("Next: add it to Synapse's homeserver.yaml under app_service_config_files (Synapse must be able to read it:\n"+
		"its container image runs as uid 991), restart Synapse, and point the bot at it with\n"+
		"appservice.registration: %s (or APPSERVICE_REGISTRATION).\n", registrationPath)
	return nil
}
