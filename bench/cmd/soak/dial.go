package main

import (
	"context"
	"net"
	"sync/atomic"
	"time"
)

// fleetSources is how many loopback addresses the load's connections come
// from. A fleet reaches the server from many hosts, each with the few
// connections Nix opens (http-connections is 25), and the server caps
// connections per address: from one address, 1000 connections would only
// measure that cap.
const fleetSources = 64

// fleetDialer dials from 127.0.0.2, 127.0.0.3, … in turn.
type fleetDialer struct{ next atomic.Uint32 }

func (d *fleetDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	i := d.next.Add(1) % fleetSources
	src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))}
	nd := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: src}
	return nd.DialContext(ctx, network, addr)
}
