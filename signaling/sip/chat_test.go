package sip_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/signaling/chat"
	"github.com/openmcu/mcu/signaling/chat/chattest"
	sipsig "github.com/openmcu/mcu/signaling/sip"
)

// TestRealUAChat: Debian's baresip calls into a room whose chat has a browser member (Ann). What Ann
// writes reaches the phone as a SIP MESSAGE, one line with her name (her message from before the call,
// the history, does not), and baresip answers 200; what the phone sends with baresip's /message (the
// contact module's: a MESSAGE outside the dialog, to the room's URI) reaches Ann from the caller, under its roster ID and display name. A shared file
// reaches the phone as its name, size and absolute link.
func TestRealUAChat(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test with baresip")
	}
	baresip, err := exec.LookPath("baresip")
	if err != nil {
		t.Skip("baresip is not installed (Debian package baresip-core)")
	}
	m := newRealMCU(t)
	hub, err := chat.New(chat.DefaultConfig(), chat.Params{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	cfg := sipsig.DefaultConfig()
	cfg.Host, cfg.Port = "127.0.0.1", 0
	cfg.PublicURL = "http://meet.example.org"
	s, err := sipsig.New(cfg, sipsig.Params{Conference: sipsig.MCUConference(m), Logger: testLogger(), Chat: hub})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	ann := chattest.NewMember("p-ann", "Ann")
	hub.Join("r", ann, true)
	defer hub.Leave("r", ann)
	say := func(text string) {
		b, _ := json.Marshal(map[string]string{"type": "chat", "text": text})
		hub.Receive("r", ann, b, false)
	}
	say("before the call")

	cons := "127.0.0.1:" + strconv.Itoa(freeSIPPort(t))
	ua := startBaresip(t, baresip, "PCMU", "sip:r@127.0.0.1:"+strconv.Itoa(s.Port()),
		"module cons.so", "cons_listen "+cons, "module contact.so")
	defer ua.stop()
	codectest.Eventually(t, 15*time.Second, "the call to be answered", func() bool {
		calls := s.Calls()
		return len(calls) == 1 && calls[0].State == "active"
	})

	// Ann to the phone.
	const hello = "hello phone <b>&amp;</b> ünïcode"
	var callerID string
	codectest.Require(t, 15*time.Second, func() error {
		say(hello) // again until the phone has it: the call may join the chat just after the answer
		if !strings.Contains(ua.output(), "Ann: "+hello) {
			return fmt.Errorf("baresip did not print %q", "Ann: "+hello)
		}
		return nil
	})
	if strings.Contains(ua.output(), "before the call") {
		t.Error("the phone was sent the history from before its call")
	}

	// A file Ann shares: its name, size and absolute link.
	begin, _ := json.Marshal(map[string]any{"type": "file-begin", "name": "notes.txt", "size": 5, "mime": "text/plain"})
	hub.Receive("r", ann, begin, false)
	hub.Receive("r", ann, []byte("notes"), true)
	hub.Receive("r", ann, []byte(`{"type":"file-end"}`), false)
	codectest.Eventually(t, 10*time.Second, "the phone to get the file's line", func() bool {
		return strings.Contains(ua.output(), "Ann shared notes.txt (5 B): http://meet.example.org/files/r/")
	})

	// The phone to Ann.
	conn, err := net.Dial("udp", cons)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const reply = "hi from the desk phone"
	codectest.Require(t, 15*time.Second, func() error {
		for _, raw := range ann.Messages() {
			var msg chat.Message
			if json.Unmarshal(raw, &msg) == nil && msg.Type == chat.TypeChat && msg.Text == reply {
				callerID = msg.From.ID
				if msg.From.Name == "" || callerID == "" || callerID == ann.ID() {
					return fmt.Errorf("the phone's message came from %+v", msg.From)
				}
				return nil
			}
		}
		if _, err := conn.Write([]byte("/message " + reply + "\n")); err != nil {
			return err
		}
		// cons answers on the socket: what the command printed.
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 64<<10)
		n, _ := conn.Read(buf)
		return fmt.Errorf("Ann did not get %q; baresip's console said %q", reply, buf[:n])
	})
	if got := s.Stats(); got.ChatReceived == 0 || got.ChatSent == 0 {
		t.Errorf("stats %+v: want chat sent and received", got)
	}
	if callerID != string(s.Calls()[0].Participant) {
		t.Errorf("the phone's chat came from %q, its participant is %q", callerID, s.Calls()[0].Participant)
	}
}
