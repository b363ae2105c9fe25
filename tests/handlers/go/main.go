// A provided.al2023 bootstrap in Go, standard library only (package net: it
// builds in seconds, where net/http takes a minute).  It posts every
// response chunked with a trailer, as aws-lambda-go does.  An event with an
// "op" runs one of the sandbox probes of tests/test_sandbox_runtimes.py
// (probe.go).
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

func main() {
	conn, err := net.Dial("tcp", os.Getenv("AWS_LAMBDA_RUNTIME_API"))
	if err != nil {
		os.Exit(1)
	}
	r := bufio.NewReader(conn)
	for {
		fmt.Fprintf(conn, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: rapi\r\n\r\n")
		headers, body := readResponse(r)
		id := headers["lambda-runtime-aws-request-id"]
		fmt.Println("go handling", id)
		if strings.Contains(body, `"fail"`) {
			doc := `{"errorMessage":"boom","errorType":"errorString"}`
			fmt.Fprintf(conn, "POST /2018-06-01/runtime/invocation/%s/error HTTP/1.1\r\nHost: rapi\r\nContent-Length: %d\r\n\r\n%s", id, len(doc), doc)
			readResponse(r)
			continue
		}
		out := fmt.Sprintf(`{"go":true,"event":%s,"deadline":%q}`, body, headers["lambda-runtime-deadline-ms"])
		if strings.Contains(body, `"op"`) {
			out = probe(body)
		}
		fmt.Fprintf(conn, "POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: rapi\r\nTransfer-Encoding: chunked\r\nTrailer: Lambda-Runtime-Function-Error-Type\r\n\r\n%x\r\n%s\r\n0\r\nLambda-Runtime-Function-Error-Type: \r\n\r\n", id, len(out), out)
		readResponse(r)
	}
}

func readResponse(r *bufio.Reader) (map[string]string, string) {
	headers := map[string]string{}
	r.ReadString('\n')
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			os.Exit(2)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		k, v, _ := strings.Cut(line, ":")
		headers[strings.ToLower(k)] = strings.TrimSpace(v)
	}
	n, _ := strconv.Atoi(headers["content-length"])
	buf := make([]byte, n)
	if _, err := readFull(r, buf); err != nil {
		os.Exit(3)
	}
	return headers, string(buf)
}

func readFull(r *bufio.Reader, buf []byte) (int, error) {
	got := 0
	for got < len(buf) {
		n, err := r.Read(buf[got:])
		if err != nil {
			return got, err
		}
		got += n
	}
	return got, nil
}
