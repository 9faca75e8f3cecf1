//go:build !linux

package password

// lowPriority runs f. Only Linux lowers the priority of a hash's thread
// (lowprio_linux.go).
func lowPriority(f func()) error { f(); return nil }
