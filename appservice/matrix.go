package appservice

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/reconcile"
)

// Routes for ForceJoin, as spelled in the configuration.
const (
	// ForceJoinAuto picks ForceJoinAppservice in appservice mode and ForceJoinAdminAPI otherwise.
	ForceJoinAuto = "auto"
	// ForceJoinAdminAPI uses Synapse's admin join API; the bot must be a server admin.
	ForceJoinAdminAPI = "admin_api"
	// ForceJoinAppservice has the bot invite and then joins as the user through the appservice.
	ForceJoinAppservice = "appservice"
)

const (
	defaultTimeout = 30 * time.Second
	// mautrix retries network failures and 502-504 on its own; more than a couple of retries
	// would stall a whole cycle behind one struggling request.
	httpRetries = 2
	httpBackoff = 2 * time.Second
	// rateLimitRetries and maxRateLimitWait bound how long one call waits out 429s before the
	// error goes back to the cycle, which retries the action next time.
	rateLimitRetries = 2
	maxRateLimitWait = 30 * time.Second
)

// Options configures the connection to the homeserver.
type Options struct {
	HomeserverURL string
	// Domain is the homeserver's server name (the part after the colon in user IDs). Empty means
	// the bot's own server name.
	Domain    string
	BotUserID id.UserID
	// AccessToken is the bot user's token in client mode.
	AccessToken string
	// Appservice selects appservice mode: requests carry ASToken and act as users with ?user_id=.
	Appservice bool
	ASToken    string
	// RegistrationID is the appservice registration's id, needed to ping the homeserver.
	RegistrationID string
	// ForceJoinVia is ForceJoinAuto (the default), ForceJoinAdminAPI or ForceJoinAppservice.
	ForceJoinVia string
	// Timeout bounds each HTTP request; zero means 30 seconds.
	Timeout    time.Duration
	HTTPClient *http.Client
	Log        zerolog.Logger
	// AdminToken, when set, supplies the token of every Synapse admin API call instead of the
	// bot's own (see admintoken.go); nil sends them with the bot's token.
	AdminToken AdminTokenSource
}

// Matrix reads and changes Matrix rooms for the sync. It is safe for concurrent use.
type Matrix struct {
	bot        id.UserID
	domain     string
	appservice bool
	route      string
	regID      string
	log        zerolog.Logger

	// client acts as the bot; in appservice mode it carries ?user_id=<bot>.
	client *mautrix.Client
	// bare carries the as_token without ?user_id=, for calls that act as the appservice itself
	// (registering the bot, pinging).
	bare *mautrix.Client
	http *http.Client
	// token is the credential every client sends: the bot's access token or the as_token.
	token string
	hsURL *url.URL

	rateLimitRetries int
	maxRateLimitWait time.Duration
	// gate is shared by every request to the homeserver, the bot's and the puppets'.
	gate *rateGate
	// adminTokens is Options.AdminToken; nil means admin calls carry the bot's token.
	adminTokens AdminTokenSource
}

var _ reconcile.Rooms = (*Matrix)(nil)

// New checks the options and builds the clients. It makes no request: call Check before the
// first cycle.
func New(opts Options) (*Matrix, error) {
	if opts.HomeserverURL == "" {
		return nil, errors.New("matrix: homeserver URL is empty: set it to the client API address, e.g. http://127.0.0.1:8008")
	}
	if opts.BotUserID == "" {
		return nil, errors.New("matrix: bot user ID is empty: set it to the full ID, e.g. @authentik-sync:example.org")
	}
	_, botServer, err := opts.BotUserID.Parse()
	if err != nil {
		return nil, fmt.Errorf("matrix: bot user ID %q is not a valid Matrix user ID: %w", opts.BotUserID, err)
	}
	domain := opts.Domain
	if domain == "" {
		domain = botServer
	}
	if botServer != domain {
		return nil, fmt.Errorf("matrix: bot %s is not on the homeserver's domain %q: the bot must be a local user", opts.BotUserID, domain)
	}
	token := opts.AccessToken
	if opts.Appservice {
		token = opts.ASToken
		if token == "" {
			return nil, errors.New("matrix: appservice mode needs the as_token from the registration file")
		}
		if opts.RegistrationID == "" {
			return nil, errors.New("matrix: appservice mode needs the registration's id (to ping the homeserver)")
		}
	} else if token == "" {
		return nil, fmt.Errorf("matrix: client mode needs an access token for %s (or enable appservice mode)", opts.BotUserID)
	}
	route, err := chooseRoute(opts.ForceJoinVia, opts.Appservice)
	if err != nil {
		return nil, err
	}

	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	httpClient := &http.Client{Timeout: timeout}
	if opts.HTTPClient != nil {
		c := *opts.HTTPClient
		if c.Timeout == 0 {
			c.Timeout = timeout
		}
		httpClient = &c
	}

	m := &Matrix{
		bot:              opts.BotUserID,
		domain:           domain,
		appservice:       opts.Appservice,
		route:            route,
		regID:            opts.RegistrationID,
		log:              opts.Log.With().Str("component", "matrix").Logger(),
		http:             httpClient,
		token:            token,
		rateLimitRetries: rateLimitRetries,
		maxRateLimitWait: maxRateLimitWait,
		gate:             newRateGate(),
		adminTokens:      opts.AdminToken,
	}
	m.hsURL, err = mautrix.ParseAndNormalizeBaseURL(opts.HomeserverURL)
	if err != nil {
		return nil, fmt.Errorf("matrix: homeserver URL %q is invalid: %w", opts.HomeserverURL, err)
	}
	if m.hsURL.Scheme != "http" && m.hsURL.Scheme != "https" {
		return nil, fmt.Errorf("matrix: homeserver URL %q must start with http:// or https://", opts.HomeserverURL)
	}
	m.client = m.newClient(opts.BotUserID, opts.Appservice)
	m.bare = m.newClient(opts.BotUserID, false)
	return m, nil
}

func chooseRoute(via string, appservice bool) (string, error) {
	switch via {
	case "", ForceJoinAuto:
		if appservice {
			return ForceJoinAppservice, nil
		}
		return ForceJoinAdminAPI, nil
	case ForceJoinAdminAPI:
		return ForceJoinAdminAPI, nil
	case ForceJoinAppservice:
		if !appservice {
			return "", errors.New("matrix: force_join_via \"appservice\" needs appservice mode: enable it, or use \"admin_api\" with a server-admin bot")
		}
		return ForceJoinAppservice, nil
	default:
		return "", fmt.Errorf("matrix: force_join_via %q is unknown: use auto, admin_api or appservice", via)
	}
}

func (m *Matrix) newClient(user id.UserID, asUser bool) *mautrix.Client {
	return &mautrix.Client{
		HomeserverURL:       m.hsURL,
		UserID:              user,
		AccessToken:         m.token,
		UserAgent:           "authentik-matrix-sync " + mautrix.DefaultUserAgent,
		Client:              m.http,
		Log:                 m.log,
		DefaultHTTPRetries:  httpRetries,
		DefaultHTTPBackoff:  httpBackoff,
		MaxHTTPBackoff:      maxRateLimitWait,
		IgnoreRateLimit:     true, // 429s are waited out in withRateLimit, which also reads retry_after_ms
		SetAppServiceUserID: asUser,
		ResponseSizeLimit:   maxResponseBytes,
	}
}

// puppet returns a client that acts as user through the appservice.
func (m *Matrix) puppet(user id.UserID) *mautrix.Client { return m.newClient(user, true) }

// BotUserID is the user the bot acts as.
func (m *Matrix) BotUserID() id.UserID { return m.bot }

// ForceJoinRoute is the route ForceJoin uses: ForceJoinAdminAPI or ForceJoinAppservice.
func (m *Matrix) ForceJoinRoute() string { return m.route }

// withRateLimit runs op once the homeserver's rate-limit pause (if any) is over, and waits out
// up to rateLimitRetries 429 answers. A 429 pauses every request, not just this one; a pause
// longer than maxRateLimitWait is not waited for by this request: the error goes back and the
// action is retried in a later cycle, while the others wait at most maxRateLimitWait.
func (m *Matrix) withRateLimit(ctx context.Context, what string, op func(context.Context) error) error {
	var err error
	for attempt := 0; ; attempt++ {
		if gerr := m.gate.wait(ctx); gerr != nil {
			if err != nil {
				return errors.Join(err, gerr)
			}
			return fmt.Errorf("%s: waiting out the homeserver's rate limit: %w", what, gerr)
		}
		err = op(ctx)
		wait, limited := IsRateLimited(err)
		if !limited {
			return err
		}
		if wait <= 0 {
			wait = time.Second
		}
		m.gate.closeFor(min(wait, m.maxRateLimitWait))
		giveUp := attempt >= m.rateLimitRetries || wait > m.maxRateLimitWait
		m.logFor(ctx).Warn().Str("request", what).Float64("retry_in_seconds", wait.Seconds()).Bool("retried", !giveUp).
			Msg("Rate-limited by the homeserver; every request waits")
		if giveUp {
			return err
		}
	}
}
