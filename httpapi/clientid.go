package httpapi

// MaxClientIDLength bounds a client_id parameter, in bytes.
const MaxClientIDLength = 200

// CheckClientID refuses a client_id that must not be stored with a session:
// one longer than MaxClientIDLength, or with a character outside VSCHAR
// (%x20-7E, RFC 6749 Appendix A.1). Control characters would otherwise
// reach the operator's terminal as they are (`latchkey session list`
// prints the client of every session), and a client_id is compared byte
// for byte, so look-alike Unicode spellings only confuse.
func CheckClientID(id string) error {
	if len(id) > MaxClientIDLength {
		return InvalidRequest(`the "client_id" parameter is too long`, nil)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c > 0x7e {
			return InvalidRequest(`the "client_id" parameter may hold only printable ASCII characters (RFC 6749 Appendix A.1)`, nil)
		}
	}
	return nil
}
