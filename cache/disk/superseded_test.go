package disk

import (
	"testing"
	"time"
)

// A superseded file goes once unread for SupersededGrace, and not while a
// file of its key is on its way.
func TestSupersededFileRemoved(t *testing.T) {
	c := openTest(t, Options{SupersededGrace: time.Minute})
	for round := range 2 {
		commitBytes(t, c, "ab-original.nar", []byte("the upstream's file"))
		c.Supersede("ab-original.nar")
		c.dropSuperseded(time.Now())
		if _, ok := c.StoredSize("ab-original.nar"); !ok {
			t.Fatalf("round %d: original removed within its grace period", round)
		}
		if round == 1 {
			done := c.Incoming("ab-original.nar", func() int64 { return 0 })
			c.dropSuperseded(time.Now().Add(2 * time.Minute))
			if _, ok := c.StoredSize("ab-original.nar"); !ok {
				t.Fatal("original removed while a file of its key was incoming")
			}
			done()
			c.Supersede("ab-original.nar")
		}
		c.dropSuperseded(time.Now().Add(2 * time.Minute))
		if _, ok := c.StoredSize("ab-original.nar"); ok {
			t.Fatalf("round %d: original kept after its grace period", round)
		}
	}
}
