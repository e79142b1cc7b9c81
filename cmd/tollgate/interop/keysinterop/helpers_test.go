package keysinterop_test

// The helpers these tests share with the keys package's own come from
// keys/keystest.

import "github.com/tollgate/tollgate/keys/keystest"

// Values that a registry under test is configured with.
const (
	testIssuer  = keystest.Issuer
	testService = keystest.Service
)

// What these tests share with the interop module's (keys/keystest).
var (
	asymmetricAlgorithms = keystest.AsymmetricAlgorithms
	registryClaims       = keystest.RegistryClaims
	mustSign             = keystest.MustSign
	writeDev             = keystest.WriteDev
	writeFile            = keystest.WriteFile
	pemBytes             = keystest.PEM
	writePKCS8           = keystest.WritePKCS8
	certificateFor       = keystest.CertificateFor
	shortCoordinateKey   = keystest.ShortCoordinateKey
	unpaddedThumbprint   = keystest.UnpaddedThumbprint
	testPolicy           = keystest.Policy
	newRing              = keystest.NewRing
	rotate               = keystest.Rotate
	syncPolicy           = keystest.SyncPolicy
	newReplicas          = keystest.NewReplicas
	syncAll              = keystest.SyncAll
)
