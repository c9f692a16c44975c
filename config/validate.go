package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"strings"

	"maunium.net/go/mautrix/id"
)

// Validate checks a loaded configuration for running the bot and returns an *Error listing every
// problem, or nil. Load calls it; it is exported for configurations built in code.
func (c *Config) Validate() error {
	return c.check(false).err("")
}

// ValidateForGenerate checks only what generating an appservice registration (-g) needs: the
// registration file itself may not exist yet, and Authentik and the mappings do not matter.
func (c *Config) ValidateForGenerate() error {
	return c.check(true).err("")
}

func (c *Config) check(forGenerate bool) problems {
	var ps problems
	if forGenerate {
		c.checkDomain(&ps, true)
		c.checkAppservice(&ps)
		return ps
	}
	checkHTTPURL(&ps, sHomeserverAddress, c.Homeserver.Address, "https://matrix.example.com")
	c.checkIdentity(&ps)
	if c.AppserviceMode() {
		c.checkAppservice(&ps)
		c.checkAppserviceTokens(&ps)
	} else if c.Matrix.AccessToken == "" {
		ps.add(sAccessToken, "is required unless an appservice registration is configured; set MATRIX_ACCESS_TOKEN or MATRIX_ACCESS_TOKEN_FILE, or set appservice.registration / APPSERVICE_REGISTRATION")
	}
	switch c.Matrix.ForceJoinVia {
	case ForceJoinAuto, ForceJoinAdminAPI:
	case ForceJoinAppservice:
		if !c.AppserviceMode() {
			ps.add(sForceJoinVia, "appservice needs appservice mode; set appservice.registration / APPSERVICE_REGISTRATION, or use auto or admin_api")
		}
	default:
		ps.add(sForceJoinVia, "%s is not a route; use auto, admin_api or appservice", quote(c.Matrix.ForceJoinVia))
	}
	c.checkAuthentik(&ps)
	c.checkSync(&ps)
	c.checkUserMapping(&ps)
	c.checkExternalIDs(&ps)
	c.checkRest(&ps)
	c.checkAdmin(&ps)
	c.checkAudit(&ps)
	c.checkBackoff(&ps)
	c.checkScale(&ps)
	c.checkWebhook(&ps)
	c.checkSCIM(&ps)
	c.checkMAS(&ps)
	c.checkProtected(&ps)
	c.checkLifecycle(&ps)
	return ps
}

// checkIdentity checks the bot's user ID and the homeserver domain together, since each
// defaults from the other.
func (c *Config) checkIdentity(ps *problems) {
	if c.Matrix.UserID == "" {
		if !c.AppserviceMode() {
			ps.add(sUserID, "is required; set it to the bot's Matrix ID, such as @bot:example.com")
			return
		}
		c.checkDomain(ps, false)
		return
	}
	_, server, err := id.UserID(c.Matrix.UserID).ParseAndValidateRelaxed()
	if err != nil {
		ps.add(sUserID, "%s is not a Matrix user ID; write it as @localpart:server, such as @bot:example.com", quote(c.Matrix.UserID))
		return
	}
	if !c.checkDomain(ps, false) {
		return
	}
	if c.AppserviceMode() {
		want := id.NewUserID(c.Appservice.BotUsername, c.Homeserver.Domain)
		if id.UserID(c.Matrix.UserID) != want {
			ps.add(sUserID, "%s does not match appservice.bot_username and homeserver.domain, which make %s; make them agree or leave matrix.user_id unset", quote(c.Matrix.UserID), want)
		}
		return
	}
	if server != c.Homeserver.Domain {
		ps.add(sUserID, "its server %s differs from homeserver.domain %s; the bot must be a user of the homeserver it manages", quote(server), quote(c.Homeserver.Domain))
	}
}

// checkDomain reports whether the domain is usable. Generating a registration refuses the
// example domain, because the registration's user namespace is built from it.
func (c *Config) checkDomain(ps *problems, forGenerate bool) bool {
	d := c.Homeserver.Domain
	switch {
	case d == "":
		ps.add(sHomeserverDomain, "is required; set it to the server name in your user IDs (example.com for @alice:example.com), or set matrix.user_id / MATRIX_USER_ID")
	case !id.ValidateServerName(d):
		ps.add(sHomeserverDomain, "%s is not a server name; write it as in user IDs, such as example.com", quote(d))
	case forGenerate && d == "example.com":
		ps.add(sHomeserverDomain, "is still example.com; set it to your homeserver's server name before generating the registration")
	default:
		return true
	}
	return false
}

func (c *Config) checkAppservice(ps *problems) {
	a := c.Appservice
	switch {
	case a.ID == "":
		ps.add(sAppserviceID, "is empty; set a short name such as %s", DefaultAppserviceID)
	case strings.Contains(a.ID, "|"):
		ps.add(sAppserviceID, "%s contains '|', which Synapse refuses; remove it", quote(a.ID))
	}
	if err := id.ValidateUserLocalpart(a.BotUsername); err != nil {
		ps.add(sBotUsername, "%s is not a valid localpart; use lower-case letters, digits and . _ = - / + only", quote(a.BotUsername))
	}
	checkHTTPURL(ps, sAppserviceAddress, a.Address, DefaultAppserviceAddress)
	if a.Hostname == "" {
		ps.add(sAppserviceHost, "is empty; set the address to listen on, such as %s (or 0.0.0.0 in a container)", DefaultAppserviceHostname)
	}
	if a.Port < 1 || a.Port > 65535 {
		ps.add(sAppservicePort, "%d is not a TCP port; use 1 to 65535, such as %d", a.Port, DefaultAppservicePort)
	}
}

func (c *Config) checkAppserviceTokens(ps *problems) {
	if path := c.Appservice.Registration; path != "" {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			ps.add(sRegistration, "%s does not exist; generate it with -g -r %s, add it to the homeserver's app_service_config_files, or fix the path", path, path)
			// The tokens would come from the file: reporting them missing too would only confuse.
			return
		}
	}
	if c.Appservice.ASToken == "" {
		ps.add(sASToken, "is missing; it comes from the registration file (appservice.registration / APPSERVICE_REGISTRATION) or APPSERVICE_AS_TOKEN(_FILE)")
	}
	if c.Appservice.HSToken == "" {
		ps.add(sHSToken, "is missing; it comes from the registration file (appservice.registration / APPSERVICE_REGISTRATION) or APPSERVICE_HS_TOKEN(_FILE)")
	}
}

func (c *Config) checkAuthentik(ps *problems) {
	a := c.Authentik
	checkHTTPURL(ps, sAuthentikURL, a.URL, "https://auth.example.com")
	if a.Token == "" {
		ps.add(sAuthentikToken, "is required; create an API token (intent API) in Authentik and set AUTHENTIK_TOKEN or AUTHENTIK_TOKEN_FILE")
	}
	if a.PageSize < 1 || a.PageSize > MaxPageSize {
		ps.add(sPageSize, "%d is out of range; use 1 to %d (default %d)", a.PageSize, MaxPageSize, DefaultPageSize)
	}
	if a.Timeout <= 0 {
		ps.add(sTimeout, "%s must be positive; use a duration such as %s", a.Timeout, DefaultAuthentikTimeout)
	}
}

func (c *Config) checkSync(ps *problems) {
	s := c.Sync
	if s.Interval < MinInterval {
		ps.add(sInterval, "%s is shorter than the minimum %s; use at least %d seconds (default %d)", s.Interval, MinInterval, int(MinInterval.Seconds()), int(DefaultInterval.Seconds()))
	}
	if s.GracePeriod < 0 {
		ps.add(sGracePeriod, "%s is negative; use 0 to remove at the next cycle, or a waiting time such as 24h (1440 minutes)", s.GracePeriod)
	}
	if !isJoinMethod(s.JoinMethod) {
		ps.add(sJoinMethod, "%s is not a join method; use invite or force", quote(s.JoinMethod))
	}
	if s.RemoveAction != RemoveKick && s.RemoveAction != RemoveBan {
		ps.add(sRemoveAction, "%s is not a remove action; use kick or ban", quote(s.RemoveAction))
	}
	seen := map[[2]string]int{}
	for i, m := range s.Mappings {
		at := mappingSetting(i)
		if strings.TrimSpace(m.Group) == "" {
			ps.add(at, "has no group; set \"group\" to the Authentik group's name")
		}
		switch {
		case m.Space != "":
			ps.add(at, "sets both room %s and space %s; they are the same setting, keep one", quote(m.Room), quote(m.Space))
		case m.Room == "":
			ps.add(at, "has no room; set \"space\" (or \"room\") to a room ID such as !abc:example.com or an alias such as #team:example.com")
		default:
			if msg := roomProblem(m.Room); msg != "" {
				ps.add(at, "%s", msg)
			}
		}
		if m.Method != "" && !isJoinMethod(m.Method) {
			ps.add(at, "method %s is not a join method; use invite or force, or leave it out to use sync.join_method", quote(m.Method))
		}
		checkMappingOptions(ps, i, m)
		checkPowerLevel(ps, i, m)
		key := [2]string{m.Group, m.Room}
		if first, dup := seen[key]; dup {
			ps.add(at, "repeats group %s and room %s of mapping #%d; remove one of them", quote(m.Group), quote(m.Room), first+1)
		} else {
			seen[key] = i
		}
	}
}

func isJoinMethod(m string) bool { return m == JoinInvite || m == JoinForce }

// opaqueRoomIDRe matches room IDs of room version 12 and later, which carry no server name: the
// sigil and the unpadded URL-safe base64 of a SHA-256 hash.
var opaqueRoomIDRe = regexp.MustCompile(`^![A-Za-z0-9_-]{43}$`)

// roomProblem says what is wrong with a mapping's room, or "" if nothing is.
func roomProblem(room string) string {
	const how = "use a room ID such as !abc:example.com or an alias such as #team:example.com"
	sigil, localpart, server := id.ParseCommonIdentifier(room)
	switch {
	case sigil == '!' && opaqueRoomIDRe.MatchString(room):
		return ""
	case sigil != '!' && sigil != '#':
		return fmt.Sprintf("room %s is neither a room ID nor an alias; %s", quote(room), how)
	case localpart == "" || strings.ContainsAny(localpart, " \t"):
		return fmt.Sprintf("room %s has no valid part before the server name; %s", quote(room), how)
	case server == "":
		return fmt.Sprintf("room %s has no server name; %s", quote(room), how)
	case !id.ValidateServerName(server):
		return fmt.Sprintf("room %s has an invalid server name %s; %s", quote(room), quote(server), how)
	}
	return ""
}

func (c *Config) checkUserMapping(ps *problems) {
	u := c.UserMapping
	if msg := templateProblem(u.Template); msg != "" {
		ps.add(sTemplate, "%s %s; write it like %s", quote(u.Template), msg, DefaultTemplate)
	}
	switch {
	case u.Server == "" && c.Homeserver.Domain == "":
		// Already reported as a missing homeserver domain.
	case u.Server == "":
		ps.add(sUserServer, "is empty; set it to the server name of your users' Matrix IDs")
	case !id.ValidateServerName(u.Server):
		ps.add(sUserServer, "%s is not a server name; write it as in user IDs, such as example.com", quote(u.Server))
	}
}

// isPlaceholder reports whether name may appear inside {…} in a user mapping template.
func isPlaceholder(name string) bool {
	switch name {
	case "username", "email_localpart", "uid", "pk", "server":
		return true
	}
	return strings.HasPrefix(name, "attr:") && name != "attr:"
}

// templateProblem checks a user mapping template's shape: @, a localpart of literals and
// placeholders, the first literal ':' and a server part. It says what is wrong, or "".
func templateProblem(t string) string {
	if !strings.HasPrefix(t, "@") {
		return "must start with @"
	}
	var localpart, server strings.Builder
	part := &localpart
	for rest := t[1:]; rest != ""; {
		open := strings.IndexByte(rest, '{')
		literal := rest
		if open >= 0 {
			literal = rest[:open]
		}
		if part == &localpart {
			before, after, found := strings.Cut(literal, ":")
			if strings.ContainsFunc(before, isBadLocalpartRune) {
				return "has characters not allowed in a Matrix localpart (use a-z 0-9 . _ = - / +) before the ':'"
			}
			localpart.WriteString(before)
			literal = ""
			if found {
				part, literal = &server, after
			}
		}
		part.WriteString(literal)
		if open < 0 {
			break
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return "has a { without a matching }"
		}
		name := rest[open+1 : open+end]
		if !isPlaceholder(name) {
			return fmt.Sprintf("has an unknown placeholder {%s} (known: {username} {email_localpart} {uid} {pk} {server} {attr:NAME})", name)
		}
		part.WriteString("{" + name + "}")
		rest = rest[open+end+1:]
	}
	switch {
	case part == &localpart:
		return "has no ':' between the localpart and the server"
	case localpart.Len() == 0:
		return "has an empty localpart"
	case server.Len() == 0:
		return "has an empty server part"
	}
	return ""
}

func isBadLocalpartRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("._=-/+", r))
}

func (c *Config) checkRest(ps *problems) {
	switch c.Database.Type {
	case DatabaseSQLite:
	case DatabasePostgres:
		c.checkPostgres(ps)
	default:
		ps.add(sDatabaseType, "%s is not a database type; use sqlite or postgres", quote(c.Database.Type))
	}
	if c.Database.DataDir == "" {
		ps.add(sDataDir, "is empty; set a writable directory such as %s", DefaultDataDir)
	}
	if c.Database.BackupRetention < 1 {
		ps.add(sBackupRetention, "%d is too small; keep at least 1 backup (default %d)", c.Database.BackupRetention, DefaultBackupRetention)
	}
	switch c.Logging.Level {
	case "debug", "info", "warn", "error":
	default:
		ps.add(sLogLevel, "%s is not a log level; use DEBUG, INFO, WARNING or ERROR", quote(c.Logging.Level))
	}
	switch c.Logging.Format {
	case LogFormatAuto, LogFormatJSON, LogFormatConsole:
	default:
		ps.add(sLogFormat, "%s is not a log format; use auto, json or console", quote(c.Logging.Format))
	}
	if l := c.Metrics.Listen; l != "" {
		if parseListen(l) != listenOK {
			ps.add(sHealthListen, "%s is not host:port; use something like %s, or empty to disable the endpoint", quote(l), DefaultMetricsListen)
		}
	}
}

// checkHTTPURL checks that v is an absolute http(s) URL. Credentials in a URL are not echoed.
func checkHTTPURL(ps *problems, s setting, v, example string) {
	if v == "" {
		ps.add(s, "is required; set it to a URL such as %s", example)
		return
	}
	u, err := url.Parse(v)
	shown := quote(v)
	if err == nil {
		shown = quote(u.Redacted())
	} else if strings.Contains(v, "@") {
		shown = "the value"
	}
	switch {
	case err != nil:
		ps.add(s, "%s is not a valid URL; use a URL such as %s", shown, example)
	case u.Scheme != "http" && u.Scheme != "https":
		ps.add(s, "%s must start with http:// or https://, such as %s", shown, example)
	case u.Host == "":
		ps.add(s, "%s has no host; use a URL such as %s", shown, example)
	}
}

// schemaIdentifier is a plain lower-case PostgreSQL identifier: it never needs quoting, in SQL or
// in pg_dump's --schema pattern.
var schemaIdentifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

func (c *Config) checkPostgres(ps *problems) {
	d := c.Database
	if u, err := url.Parse(d.URI); d.URI == "" || err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		ps.add(sDatabaseURI, "must be a postgres:// URL such as postgres://bot:password@db:5432/matrix when the database type is postgres")
	}
	if !schemaIdentifier.MatchString(d.Schema) {
		ps.add(sDatabaseSchema, "%s is not a plain lower-case identifier; use letters a-z, digits and _ (default %s)", quote(d.Schema), DefaultDatabaseSchema)
	}
	if d.MaxOpenConns < 1 || d.MaxIdleConns < 0 || d.MaxIdleConns > d.MaxOpenConns {
		ps.add(sDatabasePool, "max_open_conns %d and max_idle_conns %d must satisfy 1 <= max_open_conns and 0 <= max_idle_conns <= max_open_conns (defaults %d and %d)", d.MaxOpenConns, d.MaxIdleConns, DefaultMaxOpenConns, DefaultMaxIdleConns)
	}
}
