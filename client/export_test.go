package client

// Waiting returns how many goroutines wait for c's refresh in progress (0
// when none is), so a test can tell that a call has joined it.
func Waiting(c *Client) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fl == nil {
		return 0
	}
	return c.fl.waiting
}
