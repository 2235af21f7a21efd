package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// kubePKI is the throw-away certificate authority of one test cluster: a self-signed
// CA and the certificates it issues (ECDSA P-256, valid for a day), all under dir.
//
// # Notes
//
// Made with crypto/x509 rather than openssl so the tests need nothing more on the
// machine; P-256 keys take microseconds where RSA 2048 takes ~100 ms each, which
// counts against the ≤ 10 s bring-up.
type kubePKI struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caPEM  []byte
	caPath string
	serial int64
}

// newKubePKI creates the CA in dir (ca.crt, ca.key).
func newKubePKI(dir string) (*kubePKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "berth-e2e-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("self-signing the CA: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	p := &kubePKI{dir: dir, ca: ca, caKey: key, serial: 1}
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	p.caPath = filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(p.caPath, p.caPEM, 0o644); err != nil {
		return nil, err
	}
	if _, err := writeKey(filepath.Join(dir, "ca.key"), key); err != nil {
		return nil, err
	}
	return p, nil
}

// kubeCert is one issued certificate and its key, as files and as PEM.
type kubeCert struct {
	certPath, keyPath string
	certPEM, keyPEM   []byte
}

// certSpec says what a certificate is for. Kubernetes reads the user from the common
// name and the groups from the organizations of a client certificate.
type certSpec struct {
	name   string // file name stem
	cn     string
	orgs   []string
	server bool // serving (with ips and dns as SANs) as well as client
	ips    []net.IP
	dns    []string
}

// issue signs a new key's certificate for s and writes NAME.crt and NAME.key.
func (p *kubePKI) issue(s certSpec) (kubeCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return kubeCert{}, fmt.Errorf("generating the key of %s: %w", s.name, err)
	}
	p.serial++
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{CommonName: s.cn, Organization: s.orgs},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if s.server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		tmpl.IPAddresses, tmpl.DNSNames = s.ips, s.dns
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		return kubeCert{}, fmt.Errorf("signing the certificate of %s: %w", s.name, err)
	}
	c := kubeCert{
		certPath: filepath.Join(p.dir, s.name+".crt"),
		keyPath:  filepath.Join(p.dir, s.name+".key"),
		certPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}
	if err := os.WriteFile(c.certPath, c.certPEM, 0o644); err != nil {
		return kubeCert{}, err
	}
	if c.keyPEM, err = writeKey(c.keyPath, key); err != nil {
		return kubeCert{}, err
	}
	return c, nil
}

// writeKey writes key as an "EC PRIVATE KEY" PEM file (mode 0600) and returns the PEM.
func writeKey(path string, key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	return b, os.WriteFile(path, b, 0o600)
}

// kubeconfig is a kubeconfig file that reaches server as the user of cert, trusting
// only the cluster's CA.
func (p *kubePKI) kubeconfig(server string, c kubeCert) string {
	b64 := base64.StdEncoding.EncodeToString
	return strings.Join([]string{
		"apiVersion: v1",
		"kind: Config",
		"clusters:",
		"- name: berth-e2e",
		"  cluster:",
		"    server: " + server,
		"    certificate-authority-data: " + b64(p.caPEM),
		"users:",
		"- name: user",
		"  user:",
		"    client-certificate-data: " + b64(c.certPEM),
		"    client-key-data: " + b64(c.keyPEM),
		"contexts:",
		"- name: berth-e2e",
		"  context: {cluster: berth-e2e, user: user}",
		"current-context: berth-e2e",
		"",
	}, "\n")
}
