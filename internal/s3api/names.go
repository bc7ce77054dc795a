package s3api

import (
	"net"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/wharfml/wharf/internal/blob"
)

// validBucketName reports whether name follows S3's general-purpose bucket
// naming rules: 3–63 characters of lower-case letters, digits, dots and
// hyphens, starting and ending with a letter or digit, no adjacent dots, not
// an IP address, and none of the reserved prefixes and suffixes.
func validBucketName(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '.' || c == '-':
			if i == 0 || i == len(name)-1 {
				return false
			}
			if c == '.' && (name[i-1] == '.' || name[i+1] == '.') {
				return false
			}
		default:
			return false
		}
	}
	if ip := net.ParseIP(name); ip != nil {
		return false
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, s) {
			return false
		}
	}
	return true
}

// checkKey validates an object key: at most 1024 bytes of valid UTF-8 with no NUL.
func checkKey(key string) *apiError {
	if len(key) > blob.MaxKeyLength {
		return newError("KeyTooLongError", http.StatusBadRequest, "Your key is too long")
	}
	if key == "" {
		return errInvalidArgument("Object key must not be empty")
	}
	if !utf8.ValidString(key) || strings.IndexByte(key, 0) >= 0 {
		return errInvalidArgument("Object key is not valid UTF-8 or contains a NUL character")
	}
	return nil
}
