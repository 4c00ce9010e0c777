package jswaku

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/peermesh/peermesh"
	"github.com/peermesh/peermesh/waku/enr"
)

// selfSignedCert writes a certificate for 127.0.0.1 (its own CA) and its key
// as PEM files in dir.
func selfSignedCert(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "peermesh test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// wssAddr is n's secure WebSocket address in the /wss form js-waku's filter
// and URL conversion know, with /p2p.
func wssAddr(t *testing.T, n *peermesh.Node) string {
	t.Helper()
	for _, a := range n.Host().Addrs() {
		if _, err := a.ValueForProtocol(ma.P_TLS); err != nil {
			continue
		}
		port, err := a.ValueForProtocol(ma.P_TCP)
		if err != nil {
			continue
		}
		return "/ip4/127.0.0.1/tcp/" + port + "/wss/p2p/" + n.ID().String()
	}
	t.Fatalf("no secure WebSocket address in %v", n.Host().Addrs())
	return ""
}

// js-waku's default node outside a test environment dials only wss
// addresses (it filters out plain ws): with a certificate it trusts, it
// reaches peermesh's secure WebSocket listener, and both keep the other in
// their relay mesh.
func TestJSWakuDefaultNodeOverSecureWebSocket(t *testing.T) {
	dir := jsDir(t)
	ensureInstalled(t, dir)
	certPath, keyPath := selfSignedCert(t, t.TempDir())
	n, _ := startPeermesh(t, func(c *peermesh.Config) {
		c.WebSocketSecureCertPath, c.WebSocketSecureKeyPath = certPath, keyPath
	})
	// The node record offers the wss address, as nwaku's does.
	rec, err := enr.Parse(n.ENR())
	if err != nil {
		t.Fatalf("node record %q: %v", n.ENR(), err)
	}
	if !slices.ContainsFunc(rec.Addrs, func(a ma.Multiaddr) bool { _, err := a.ValueForProtocol(ma.P_TLS); return err == nil }) {
		t.Fatalf("node record's multiaddrs %v lack the secure WebSocket address", rec.Addrs)
	}
	// No NODE_ENV=test: js-waku's own wss-only filter applies; the test CA
	// is trusted the way an operator's would be.
	js := startJSEnv(t, dir, map[string]any{"clusterId": 1, "contentTopics": []string{contentTopic}, "defaults": true},
		"NODE_EXTRA_CA_CERTS="+certPath, "NODE_ENV=production")
	js.request("subscribe", map[string]any{"contentTopic": contentTopic})
	js.request("dial", map[string]any{"addr": wssAddr(t, n)})
	if md := js.request("metadata", map[string]any{"peer": n.ID().String()}); md["clusterId"].(float64) != 1 {
		t.Fatalf("js-waku's metadata of peermesh: %v", md)
	}
	eventually(t, 20*time.Second, "each side in the other's mesh over wss", func() bool {
		return slices.Contains(meshOf(t, n, shardTopic), js.ID) &&
			slices.Contains(strs(js.request("mesh", map[string]any{"topic": shardTopic})["peers"]), n.ID().String())
	})
}
