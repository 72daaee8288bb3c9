package obsclient

import (
	"net/http"
	"time"
)

// PresignedURL returns a query-authenticated URL for method on bucket/key,
// valid for expires (OBS/V2: AccessKeyId/Expires/Signature; V4: X-Amz-*).
// Anyone holding the URL can use it until it expires: do not log it.
func (c *Client) PresignedURL(method, bucket, key string, expires time.Duration) (string, error) {
	if err := validateBucketKey(bucket, key); err != nil {
		return "", err
	}
	if expires <= 0 || expires > 7*24*time.Hour {
		return "", invalid("expiry %v must be within (0, 7 days]", expires)
	}
	switch method {
	case http.MethodGet, http.MethodPut, http.MethodHead, http.MethodDelete:
	default:
		return "", invalid("cannot presign method %q", method)
	}
	u, pathStyle := c.buildURL(bucket, key, nil)
	now := c.cfg.Now()
	if c.cfg.Signature == SignatureV4 {
		u.RawQuery = c.signer.presignV4(method, u.Host, u.EscapedPath(), "", now, expires)
	} else {
		q := c.signer.presignV2(method, resourcePathV2(bucket, u.EscapedPath(), pathStyle), "", now.Add(expires))
		u.RawQuery = encodeQuery(q)
	}
	return u.String(), nil
}
