package grpcwire

import (
	"encoding/binary"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// HealthCheckPath is the gRPC health checking protocol's method
// (grpc/grpc doc/health-checking.md).
const HealthCheckPath = "/grpc.health.v1.Health/Check"

// HealthRequest is the body of a call to HealthCheckPath asking about
// service ("" for the server as a whole): one message, a
// grpc.health.v1.HealthCheckRequest.
func HealthRequest(service string) []byte {
	var msg []byte
	if service != "" {
		msg = protowire.AppendTag(msg, 1, protowire.BytesType)
		msg = protowire.AppendString(msg, service)
	}
	return Frame(nil, msg)
}

// Frame appends msg to dst as one uncompressed length-prefixed message.
func Frame(dst, msg []byte) []byte {
	dst = append(dst, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(dst[len(dst)-4:], uint32(len(msg)))
	return append(dst, msg...)
}

// servingStatus is grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING.
const servingStatus = 1

// HealthServing reads the body of a HealthCheckPath reply: whether its
// one message, a grpc.health.v1.HealthCheckResponse, says SERVING.
func HealthServing(body []byte) (bool, error) {
	if len(body) < PrefixLen {
		return false, errors.New("no message in the reply")
	}
	if body[0] != 0 {
		return false, errors.New("a compressed reply")
	}
	n := binary.BigEndian.Uint32(body[1:PrefixLen])
	if uint64(len(body)-PrefixLen) != uint64(n) {
		return false, fmt.Errorf("a reply of %d bytes framed as %d", len(body)-PrefixLen, n)
	}
	msg, status := body[PrefixLen:], uint64(0)
	for len(msg) > 0 {
		num, typ, k := protowire.ConsumeTag(msg)
		if k < 0 {
			return false, protowire.ParseError(k)
		}
		msg = msg[k:]
		if num == 1 && typ == protowire.VarintType {
			v, k := protowire.ConsumeVarint(msg)
			if k < 0 {
				return false, protowire.ParseError(k)
			}
			status, msg = v, msg[k:]
			continue
		}
		k = protowire.ConsumeFieldValue(num, typ, msg)
		if k < 0 {
			return false, protowire.ParseError(k)
		}
		msg = msg[k:]
	}
	return status == servingStatus, nil
}
