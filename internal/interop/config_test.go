package interop

import "testing"

func TestConfigRefusesNonLoopback(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{}, true},
		{"loopback listen and dial", Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Dial: []string{"/ip4/127.0.0.2/tcp/4001"}}, true},
		{"ipv6 loopback", Config{Listen: []string{"/ip6/::1/tcp/0"}}, true},
		{"any address listen", Config{Listen: []string{"/ip4/0.0.0.0/tcp/0"}}, false},
		{"public dial", Config{Dial: []string{"/ip4/8.8.8.8/tcp/4001"}}, false},
		{"dns dial", Config{Dial: []string{"/dns4/example.com/tcp/4001"}}, false},
		{"garbage", Config{Dial: []string{"not a multiaddr"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.checkLoopback(); (err == nil) != tc.ok {
				t.Fatalf("checkLoopback() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
