package config

import (
	"strconv"
	"strings"

	"maunium.net/go/mautrix/id"
)

const (
	sAdminRoom     setting = "admin room (admin.room / ADMIN_ROOM)"
	sAdmins        setting = "admins (admin.admins / ADMIN_USERS)"
	sAdminMinLevel setting = "admin power level (admin.min_power_level / ADMIN_MIN_POWER_LEVEL)"
	sCommandPrefix setting = "command prefix (admin.command_prefix / COMMAND_PREFIX)"
	sMaxRemovals   setting = "removal limit (sync.max_removals_per_cycle / MAX_REMOVALS_PER_CYCLE)"
	sMaxFraction   setting = "removal fraction (sync.max_removal_fraction / MAX_REMOVAL_FRACTION)"
)

// applyAdminEnv reads the admin room's and the guard's variables.
func (l *loader) applyAdminEnv(c *Config) {
	if len(c.Admin.Admins) == 0 {
		c.Admin.Admins = nil // "admins: []" in the file means the same as no key
	}
	if v, ok := l.lookup("ADMIN_ROOM"); ok {
		c.Admin.Room = v
	}
	if v, ok := l.lookup("ADMIN_USERS"); ok {
		c.Admin.Admins = nil
		for _, u := range strings.Split(v, ",") {
			if u = strings.TrimSpace(u); u != "" {
				c.Admin.Admins = append(c.Admin.Admins, u)
			}
		}
	}
	if v, ok := l.lookup("COMMAND_PREFIX"); ok {
		c.Admin.CommandPrefix = v
	}
	intVar := func(name string, s setting, field *int) {
		if v, ok := l.lookup(name); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				l.problems.add(s, "%s is not a whole number of 0 or more", quote(v))
				return
			}
			*field = n
		}
	}
	intVar("ADMIN_MIN_POWER_LEVEL", sAdminMinLevel, &c.Admin.MinPowerLevel)
	intVar("MAX_REMOVALS_PER_CYCLE", sMaxRemovals, &c.Sync.MaxRemovalsPerCycle)
	if v, ok := l.lookup("MAX_REMOVAL_FRACTION"); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			l.problems.add(sMaxFraction, "%s is not a number such as 0.25", quote(v))
		} else {
			c.Sync.MaxRemovalFraction = f
		}
	}
}

// checkAdmin validates the admin room and guard settings.
func (c *Config) checkAdmin(ps *problems) {
	s := c.Sync
	if s.MaxRemovalsPerCycle < 0 {
		ps.add(sMaxRemovals, "%d is negative; use 0 to disable the limit, or a count (default %d)", s.MaxRemovalsPerCycle, DefaultMaxRemovals)
	}
	if s.MaxRemovalFraction < 0 || s.MaxRemovalFraction > 1 || s.MaxRemovalFraction != s.MaxRemovalFraction {
		ps.add(sMaxFraction, "%v is not between 0 and 1; use 0 to disable it (default %v)", s.MaxRemovalFraction, DefaultMaxRemovalFraction)
	}
	a := c.Admin
	if a.Room != "" {
		isID := strings.HasPrefix(a.Room, "!")
		isAlias := strings.HasPrefix(a.Room, "#") && strings.Contains(a.Room, ":")
		if !isID && !isAlias {
			ps.add(sAdminRoom, "%s is not a room ID (!id:server) or alias (#alias:server)", quote(a.Room))
		}
		if len(a.Admins) == 0 && a.MinPowerLevel <= 0 {
			ps.add(sAdmins, "nobody could command the bot; list admins or set admin.min_power_level / ADMIN_MIN_POWER_LEVEL")
		}
	}
	for _, u := range a.Admins {
		if _, _, err := id.UserID(u).ParseAndValidateRelaxed(); err != nil {
			ps.add(sAdmins, "%s is not a Matrix user ID; write it as @localpart:server", quote(u))
		}
	}
	if a.MinPowerLevel < 0 {
		ps.add(sAdminMinLevel, "%d is negative; use 0 to disable it, or a level such as 50", a.MinPowerLevel)
	}
	if strings.TrimSpace(a.CommandPrefix) == "" || strings.ContainsAny(a.CommandPrefix, " \t\n") {
		ps.add(sCommandPrefix, "%s must be one word without spaces, such as %s", quote(a.CommandPrefix), DefaultCommandPrefix)
	}
}
