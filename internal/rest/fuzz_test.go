package rest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzPublishBody feeds arbitrary bodies to POST /relay/v1/messages: every
// answer must be 200 or a 4xx JSON error, never a panic or a 5xx.
func FuzzPublishBody(f *testing.F) {
	for _, seed := range []string{
		`{"payload":"aGk=","contentTopic":"/a/1/b/c"}`,
		`{"payload":"aGk=","contentTopic":"/a/1/b/c","version":1,"timestamp":-5,"meta":"AQ==","ephemeral":true}`,
		`{"payload":"@@","contentTopic":"/a"}`,
		`{"payload":null}`,
		`{"meta":"` + strings.Repeat("A", 200) + `"}`,
		`[1,2,3]`, `"x"`, ``, `{`, `{"version":-1}`, `{"timestamp":1e99}`,
	} {
		f.Add(seed)
	}
	cfg := DefaultConfig()
	cfg.MaxBodyBytes = 4096
	s, err := New(cfg, &fakeNode{}, &fakeRelay{subs: map[string]bool{topic: true}}, version, nil)
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/relay/v1/messages/%2Fwaku%2F2%2Frs%2F0%2F0", strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code == http.StatusOK:
		case rec.Code >= 400 && rec.Code < 500:
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") || rec.Body.Len() == 0 {
				t.Fatalf("status %d with a %q error %q, want plain text", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
			}
		default:
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body.String())
		}
	})
}
