package appservice

import (
	"context"
	"fmt"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// SendNotice posts an m.notice as the bot: plain is the body every client shows, html the
// formatted body. Notices are what bots send, so other bots do not answer them.
func (m *Matrix) SendNotice(ctx context.Context, room id.RoomID, plain, html string) error {
	content := &event.MessageEventContent{MsgType: event.MsgNotice, Body: plain}
	if html != "" {
		content.Format, content.FormattedBody = event.FormatHTML, html
	}
	err := m.withRateLimit(ctx, "send notice", func(ctx context.Context) error {
		_, err := m.client.SendMessageEvent(ctx, room, event.EventMessage, content)
		return err
	})
	if err != nil {
		return fmt.Errorf("bot %s posts a notice in %s: %w: check that the bot is in the room and may send messages", m.bot, room, err)
	}
	return nil
}
