package testenv

import (
	"net"
	"sync"
)

// ServeConns accepts connections on l and serves each with serve in a
// goroutine of its own, n counting the connections from 0, until stop:
// stop closes l and every connection accepted, then waits for the
// goroutines. A test's raw upstreams and fake peers are made of it.
func ServeConns(l net.Listener, serve func(c net.Conn, n int)) (stop func()) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c, n)
			}()
		}
	}()
	return func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
}
