package miniotest

import "context"

// Launch starts a server outside of a test (make run uses it); the caller
// stops it with Stop. logf receives progress lines (the build, readiness).
func Launch(opts Options, logf func(string, ...any)) (*Server, error) {
	path, err := binary(logf)
	if err != nil {
		return nil, err
	}
	return start(path, opts, logf)
}

// Stop stops a server started with Launch and removes its data.
func (s *Server) Stop() error { return s.stop() }

// CreateBucket creates a bucket with the given name (Launch's servers
// have none).
func (s *Server) CreateBucket(ctx context.Context, name string) error {
	c, err := s.serverClient()
	if err != nil {
		return err
	}
	return c.CreateBucket(ctx, name)
}
