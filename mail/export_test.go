package mail

// Seal and Open expose the sealing to the tests.
func Seal(s *Sealer, id string, m Message) ([]byte, error) { return s.seal(id, m) }
func Open(s *Sealer, id string, payload []byte) (Message, error) {
	return s.open(id, payload)
}
