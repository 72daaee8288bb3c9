package obsclient

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// maxXMLBody bounds how much of a response body the client parses as XML.
const maxXMLBody = 64 << 20

// xmlError is the <Error> body of both dialects.
type xmlError struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource"`
	RequestID string   `xml:"RequestId"`
	HostID    string   `xml:"HostId"`
}

type xmlInitiateResult struct {
	Bucket   string `xml:"Bucket"`
	Key      string `xml:"Key"`
	UploadID string `xml:"UploadId"`
}

type xmlCompletePart struct {
	PartNumber int    `xml:"PartNumber"`
	ETag       string `xml:"ETag"`
}

type xmlComplete struct {
	XMLName xml.Name          `xml:"CompleteMultipartUpload"`
	Parts   []xmlCompletePart `xml:"Part"`
}

type xmlCompleteResult struct {
	Location string `xml:"Location"`
	Bucket   string `xml:"Bucket"`
	Key      string `xml:"Key"`
	ETag     string `xml:"ETag"`
}

type xmlCopyResult struct {
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
}

type xmlListPartsResult struct {
	Bucket               string `xml:"Bucket"`
	Key                  string `xml:"Key"`
	UploadID             string `xml:"UploadId"`
	PartNumberMarker     int    `xml:"PartNumberMarker"`
	NextPartNumberMarker int    `xml:"NextPartNumberMarker"`
	MaxParts             int    `xml:"MaxParts"`
	IsTruncated          bool   `xml:"IsTruncated"`
	Parts                []struct {
		PartNumber   int    `xml:"PartNumber"`
		LastModified string `xml:"LastModified"`
		ETag         string `xml:"ETag"`
		Size         int64  `xml:"Size"`
	} `xml:"Part"`
}

type xmlPrefix struct {
	Prefix string `xml:"Prefix"`
}

type xmlListUploadsResult struct {
	Bucket             string `xml:"Bucket"`
	KeyMarker          string `xml:"KeyMarker"`
	UploadIDMarker     string `xml:"UploadIdMarker"`
	NextKeyMarker      string `xml:"NextKeyMarker"`
	NextUploadIDMarker string `xml:"NextUploadIdMarker"`
	Delimiter          string `xml:"Delimiter"`
	Prefix             string `xml:"Prefix"`
	MaxUploads         int    `xml:"MaxUploads"`
	IsTruncated        bool   `xml:"IsTruncated"`
	EncodingType       string `xml:"EncodingType"`
	Uploads            []struct {
		Key          string `xml:"Key"`
		UploadID     string `xml:"UploadId"`
		Initiated    string `xml:"Initiated"`
		StorageClass string `xml:"StorageClass"`
	} `xml:"Upload"`
	CommonPrefixes []xmlPrefix `xml:"CommonPrefixes"`
}

type xmlListBucketResult struct {
	Name         string `xml:"Name"`
	Prefix       string `xml:"Prefix"`
	Marker       string `xml:"Marker"`
	NextMarker   string `xml:"NextMarker"`
	MaxKeys      int    `xml:"MaxKeys"`
	Delimiter    string `xml:"Delimiter"`
	IsTruncated  bool   `xml:"IsTruncated"`
	EncodingType string `xml:"EncodingType"`
	Contents     []struct {
		Key          string `xml:"Key"`
		LastModified string `xml:"LastModified"`
		ETag         string `xml:"ETag"`
		Size         int64  `xml:"Size"`
		StorageClass string `xml:"StorageClass"`
		Type         string `xml:"Type"`
	} `xml:"Contents"`
	CommonPrefixes []xmlPrefix `xml:"CommonPrefixes"`
}

type xmlDeleteObject struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId,omitempty"`
}

type xmlDelete struct {
	XMLName xml.Name          `xml:"Delete"`
	Quiet   bool              `xml:"Quiet"`
	Objects []xmlDeleteObject `xml:"Object"`
}

type xmlDeleteResult struct {
	Deleted []struct {
		Key                   string `xml:"Key"`
		VersionID             string `xml:"VersionId"`
		DeleteMarker          bool   `xml:"DeleteMarker"`
		DeleteMarkerVersionID string `xml:"DeleteMarkerVersionId"`
	} `xml:"Deleted"`
	Errors []struct {
		Key       string `xml:"Key"`
		VersionID string `xml:"VersionId"`
		Code      string `xml:"Code"`
		Message   string `xml:"Message"`
	} `xml:"Error"`
}

type xmlCreateBucket struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint string   `xml:"LocationConstraint"`
}

// errMalformed marks a response body that is not the XML the operation
// expects; it is retryable (a proxy or a truncated response may cause it).
var errMalformed = errors.New("malformed response body")

// decodeXML reads an XML document whose root element must be want, into v.
// If the root is <Error> instead, it returns an *Error (status is the HTTP
// status the body came with, 200 for an error inside a success response).
// Namespaces are ignored.
func decodeXML(r io.Reader, want string, status int, v any) error {
	d := xml.NewDecoder(io.LimitReader(r, maxXMLBody))
	d.Strict = true
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				return &transportError{fmt.Errorf("%w: empty body, want <%s>", errMalformed, want)}
			}
			return &transportError{fmt.Errorf("%w: %v", errMalformed, err)}
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch start.Name.Local {
		case want:
			if err := d.DecodeElement(v, &start); err != nil {
				return &transportError{fmt.Errorf("%w: <%s>: %v", errMalformed, want, err)}
			}
			return nil
		case "Error":
			var xe xmlError
			if err := d.DecodeElement(&xe, &start); err != nil {
				return &transportError{fmt.Errorf("%w: <Error>: %v", errMalformed, err)}
			}
			return &Error{Status: status, Code: xe.Code, Message: xe.Message, Resource: xe.Resource,
				RequestID: xe.RequestID, HostID: xe.HostID}
		default:
			return &transportError{fmt.Errorf("%w: root <%s>, want <%s>", errMalformed, start.Name.Local, want)}
		}
	}
}

// parseISOTime parses the ISO 8601 times of XML listings; a malformed time
// yields the zero time rather than failing a whole listing.
func parseISOTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}
	}
	return t
}

// urlDecoder decodes the fields of a listing made with encoding-type=url.
type urlDecoder struct {
	on  bool
	err error
}

func (u *urlDecoder) dec(s string) string {
	if !u.on || u.err != nil {
		return s
	}
	d, err := url.QueryUnescape(s)
	if err != nil {
		u.err = &transportError{fmt.Errorf("%w: bad url-encoded name %q", errMalformed, s)}
		return s
	}
	return d
}

// trimETag removes the quotes around an ETag.
func trimETag(s string) string { return strings.Trim(strings.TrimSpace(s), `"`) }
