package tls

import "time"

// WithRenewal returns c with certmagic's renewal ratio (remaining:lifetime;
// 1 means "always due") and its background check interval set, so tests
// can make renewals happen now.
func WithRenewal(c Config, ratio float64, interval time.Duration) Config {
	c.renewalWindowRatio, c.renewCheckInterval = ratio, interval
	return c
}
