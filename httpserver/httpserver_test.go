package httpserver

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func start(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func TestNewServerSetsEveryBound(t *testing.T) {
	srv := NewServer("127.0.0.1:0", http.NotFoundHandler())
	bounds := map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout,
		"WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout,
	}
	for name, d := range bounds {
		if d <= 0 || d > 2*time.Minute {
			t.Errorf("%s = %s, want a bound in (0, 2m]", name, d)
		}
	}
	if srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes >= 1<<20 {
		t.Errorf("MaxHeaderBytes = %d, want below Go's 1 MiB default", srv.MaxHeaderBytes)
	}
}

func TestOversizedHeaderRefused(t *testing.T) {
	addr := start(t, NewServer("", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})))
	tests := []struct {
		name   string
		header int
		want   int
	}{
		{"ordinary header", 1 << 10, http.StatusOK},
		{"header over the limit", 2 * MaxHeaderBytes, http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
			req.Header.Set("X-Pad", strings.Repeat("a", tc.header))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

// TestSlowHeaderCutOff plays a client that never finishes its header: the server hangs up after
// ReadHeaderTimeout (shortened here) instead of holding the connection.
func TestSlowHeaderCutOff(t *testing.T) {
	srv := NewServer("", http.NotFoundHandler())
	srv.ReadHeaderTimeout = 200 * time.Millisecond
	addr := start(t, srv)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: x\r\n") // no blank line: the header never ends
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = io.ReadAll(bufio.NewReader(conn))
	if err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("server held a half-sent request for %s", took)
	}
}
