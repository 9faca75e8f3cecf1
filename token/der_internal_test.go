package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"math/big"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

func derSig(r, s *big.Int) []byte {
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(r)
		b.AddASN1BigInt(s)
	})
	return b.BytesOrPanic()
}

// derToRS pads short integers, drops DER's sign octet, and refuses what is
// not one SEQUENCE of two INTEGERs that fit.
func TestDERToRS(t *testing.T) {
	high := new(big.Int).Lsh(big.NewInt(0xff), 248) // 32 bytes, top bit set: DER adds a 0x00
	cases := []struct {
		r, s *big.Int
	}{{big.NewInt(1), big.NewInt(2)}, {high, big.NewInt(0x1234)}, {high, high}}
	for _, c := range cases {
		sig, err := derToRS(derSig(c.r, c.s), make([]byte, 64))
		if err != nil {
			t.Fatal(err)
		}
		if r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]); r.Cmp(c.r) != 0 || s.Cmp(c.s) != 0 {
			t.Errorf("r, s = %x, %x; want %x, %x", r, s, c.r, c.s)
		}
	}
	tooLong := new(big.Int).Lsh(big.NewInt(1), 260)
	good := derSig(big.NewInt(1), big.NewInt(2))
	for name, der := range map[string][]byte{
		"too long":      derSig(tooLong, big.NewInt(1)),
		"trailing data": append(bytes.Clone(good), 0),
		"empty":         nil,
		"one integer":   good[:len(good)-3],
	} {
		if _, err := derToRS(der, make([]byte, 64)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// ES256 signatures are deterministic (RFC 6979) and verify.
func TestES256Deterministic(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newJWSSigner(ES256, "k1", typAccess, k)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.sign([]byte(`{"sub":"u"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.sign([]byte(`{"sub":"u"}`))
	c, _ := s.sign([]byte(`{"sub":"v"}`))
	if a != b || a == c {
		t.Fatalf("same input: equal %v; other input: equal %v", a == b, a == c)
	}
	input, sig64, _ := cutLast(a)
	raw, err := b64.DecodeString(sig64)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte(input))
	if !ecdsa.Verify(&k.PublicKey, digest[:], new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])) {
		t.Fatal("signature does not verify")
	}
}

func cutLast(tok string) (string, string, bool) {
	i := bytes.LastIndexByte([]byte(tok), '.')
	if i < 0 {
		return "", "", false
	}
	return tok[:i], tok[i+1:], true
}

// rsToDER is the exact inverse of derToRS, and matches the standard
// library's DER (cryptobyte's ASN.1 INTEGERs) for every shape of integer.
func TestRSToDER(t *testing.T) {
	high := new(big.Int).Lsh(big.NewInt(0xff), 248)
	vals := []*big.Int{big.NewInt(1), big.NewInt(0x7f), big.NewInt(0x80), big.NewInt(0x1234), high,
		new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))}
	for range 50 {
		b := make([]byte, 32)
		rand.Read(b)
		b[0] &= byte(0xff >> (len(vals) % 8))
		vals = append(vals, new(big.Int).SetBytes(b))
	}
	for _, r := range vals {
		for _, s := range vals[:8] {
			var rs [64]byte
			r.FillBytes(rs[:32])
			s.FillBytes(rs[32:])
			got, ok := rsToDER(nil, rs[:32], rs[32:])
			if want := derSig(r, s); !ok || !bytes.Equal(got, want) {
				t.Fatalf("rsToDER(%x, %x) = %x %v, want %x", r, s, got, ok, want)
			}
			back, err := derToRS(got, make([]byte, 64))
			if err != nil || !bytes.Equal(back, rs[:]) {
				t.Fatalf("round trip of %x: %x %v", rs, back, err)
			}
		}
	}
	var zero [32]byte
	one := big.NewInt(1).FillBytes(make([]byte, 32))
	if _, ok := rsToDER(nil, zero[:], one); ok {
		t.Fatal("r = 0 encoded")
	}
	if _, ok := rsToDER(nil, one, zero[:]); ok {
		t.Fatal("s = 0 encoded")
	}
}
