package mplex

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

type stream struct {
	c *conn
	k key

	mu sync.Mutex
	// buf holds received data not yet read; n is its size in bytes.
	buf [][]byte
	n   int
	// remoteClosed: the peer closed its writing side (EOF once buf is
	// read); readClosed: we stopped reading; writeClosed: we closed our
	// writing side; reset: the stream is gone, remotely when resetRemote.
	remoteClosed, readClosed, writeClosed, reset, resetRemote bool
	readDeadline, writeDeadline                               time.Time
	// readable and writable wake a waiting reader / the connection's
	// reader waiting for buffer room; both have capacity 1.
	readable, room chan struct{}
}

func newStream(c *conn, k key) *stream {
	return &stream{c: c, k: k, readable: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (s *stream) resetErr() error {
	return &network.StreamError{ErrorCode: 0, Remote: s.resetRemote}
}

func (s *stream) Read(p []byte) (int, error) {
	for {
		s.mu.Lock()
		switch {
		case s.reset:
			s.mu.Unlock()
			return 0, s.resetErr()
		case s.readClosed:
			s.mu.Unlock()
			return 0, network.ErrReset
		case s.n > 0:
			n := 0
			for n < len(p) && len(s.buf) > 0 {
				k := copy(p[n:], s.buf[0])
				n += k
				if k == len(s.buf[0]) {
					s.buf[0] = nil
					s.buf = s.buf[1:]
				} else {
					s.buf[0] = s.buf[0][k:]
				}
			}
			s.n -= n
			s.mu.Unlock()
			wake(s.room)
			return n, nil
		case s.remoteClosed:
			s.mu.Unlock()
			return 0, io.EOF
		}
		deadline := s.readDeadline
		s.mu.Unlock()
		if err := s.wait(s.readable, deadline); err != nil {
			return 0, err
		}
	}
}

// wait blocks until ch is signalled, the deadline passes or the
// connection ends.
func (s *stream) wait(ch chan struct{}, deadline time.Time) error {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return os.ErrDeadlineExceeded
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ch:
		return nil
	case <-timeout:
		return os.ErrDeadlineExceeded
	case <-s.c.done:
		return nil // the loop sees the reset
	}
}

func (s *stream) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) || len(p) == 0 {
		s.mu.Lock()
		switch {
		case s.reset:
			s.mu.Unlock()
			return written, s.resetErr()
		case s.writeClosed:
			s.mu.Unlock()
			return written, network.ErrReset
		}
		deadline := s.writeDeadline
		s.mu.Unlock()
		chunk := p[written:min(len(p), written+s.c.t.MaxMessageSize)]
		if err := s.c.send(nil, deadline, frame{k: s.k, flag: flagMessageInitiator, data: chunk}); err != nil {
			s.mu.Lock()
			if s.reset {
				err = s.resetErr()
			}
			s.mu.Unlock()
			return written, err
		}
		written += len(chunk)
		if len(p) == 0 {
			break
		}
	}
	return written, nil
}

// push appends received data; when the buffer is full it waits up to
// timeout for the reader and then resets the stream.
func (s *stream) push(data []byte, max int, timeout time.Duration, done chan struct{}) {
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		switch {
		case s.reset || s.readClosed:
			s.mu.Unlock()
			return
		case s.n+len(data) <= max || s.n == 0:
			s.buf = append(s.buf, data)
			s.n += len(data)
			s.mu.Unlock()
			wake(s.readable)
			return
		}
		s.mu.Unlock()
		d := time.Until(deadline)
		if d <= 0 {
			s.Reset()
			return
		}
		t := time.NewTimer(d)
		select {
		case <-s.room:
		case <-t.C:
		case <-done:
			t.Stop()
			return
		}
		t.Stop()
	}
}

func (s *stream) remoteClose() {
	s.mu.Lock()
	s.remoteClosed = true
	done := s.writeClosed
	s.mu.Unlock()
	if done {
		s.c.remove(s.k)
	}
	wake(s.readable)
}

// resetLocal marks the stream reset (by the peer when remote) and wakes
// everyone waiting on it.
func (s *stream) resetLocal(remote bool) {
	s.mu.Lock()
	if !s.reset {
		s.reset, s.resetRemote = true, remote
		s.buf, s.n = nil, 0
	}
	s.mu.Unlock()
	wake(s.readable)
	wake(s.room)
}

func (s *stream) Reset() error {
	s.mu.Lock()
	already := s.reset
	s.mu.Unlock()
	if !already {
		s.c.sendControl(frame{k: s.k, flag: flagResetInitiator})
	}
	s.c.remove(s.k)
	s.resetLocal(false)
	return nil
}

// ResetWithError resets the stream; mplex carries no error code.
func (s *stream) ResetWithError(network.StreamErrorCode) error { return s.Reset() }

func (s *stream) CloseWrite() error {
	s.mu.Lock()
	if s.writeClosed || s.reset {
		s.mu.Unlock()
		return nil
	}
	s.writeClosed = true
	done := s.remoteClosed || s.readClosed
	s.mu.Unlock()
	s.c.sendControl(frame{k: s.k, flag: flagCloseInitiator})
	if done {
		s.c.remove(s.k)
	}
	return nil
}

func (s *stream) CloseRead() error {
	s.mu.Lock()
	s.readClosed = true
	s.buf, s.n = nil, 0
	done := s.writeClosed
	s.mu.Unlock()
	if done {
		s.c.remove(s.k)
	}
	wake(s.readable)
	wake(s.room)
	return nil
}

func (s *stream) Close() error {
	_ = s.CloseWrite()
	return s.CloseRead()
}

func (s *stream) SetDeadline(t time.Time) error {
	_ = s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

func (s *stream) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	s.readDeadline = t
	s.mu.Unlock()
	wake(s.readable)
	return nil
}

func (s *stream) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	s.writeDeadline = t
	s.mu.Unlock()
	return nil
}
