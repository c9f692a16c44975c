package adminroom

import (
	"fmt"
	"html"
	"strings"
)

// Reply is a message for the admin room: a plain body every client shows and the HTML one
// that formatting clients prefer. Both say the same.
type Reply struct {
	Plain string
	HTML  string
}

// text builds a Reply line by line; every piece of outside text is escaped in the HTML.
type text struct {
	plain, html strings.Builder
}

// head is a bold first line.
func (t *text) head(format string, args ...any) *text {
	s := fmt.Sprintf(format, args...)
	t.plain.WriteString(s + "\n")
	t.html.WriteString("<b>" + html.EscapeString(s) + "</b><br>")
	return t
}

func (t *text) line(format string, args ...any) *text {
	s := fmt.Sprintf(format, args...)
	t.plain.WriteString(s + "\n")
	t.html.WriteString(html.EscapeString(s) + "<br>")
	return t
}

func (t *text) item(format string, args ...any) *text {
	s := fmt.Sprintf(format, args...)
	t.plain.WriteString("• " + s + "\n")
	t.html.WriteString("• " + html.EscapeString(s) + "<br>")
	return t
}

// code is a line in monospace, such as a command to type.
func (t *text) code(label, code string) *text {
	t.plain.WriteString(label + code + "\n")
	t.html.WriteString(html.EscapeString(label) + "<code>" + html.EscapeString(code) + "</code><br>")
	return t
}

// strong writes a line whose first part is emphasised.
func (t *text) strong(bold, rest string) *text {
	t.plain.WriteString(bold + rest + "\n")
	t.html.WriteString("<b>" + html.EscapeString(bold) + "</b>" + html.EscapeString(rest) + "<br>")
	return t
}

// pre writes lines as one preformatted block, which keeps their columns.
func (t *text) pre(lines []string) *text {
	t.plain.WriteString(strings.Join(lines, "\n") + "\n")
	t.html.WriteString("<pre>" + html.EscapeString(strings.Join(lines, "\n")) + "</pre>")
	return t
}

func (t *text) reply() Reply {
	return Reply{Plain: strings.TrimRight(t.plain.String(), "\n"), HTML: strings.TrimSuffix(t.html.String(), "<br>")}
}

func plainReply(format string, args ...any) Reply {
	var t text
	return t.line(format, args...).reply()
}
