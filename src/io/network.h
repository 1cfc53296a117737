#pragma once

// The network as the rest of Kelpie sees it: stream connections and listeners, addressed by
// host:port. The real implementation is TCP on Boost.Asio (io/real_world.h); a simulated twin
// comes with the cluster transport. All operations are suspension points: cancelling the awaiting
// task cancels the operation (it then throws Cancelled).

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "base/result.h"
#include "io/task.h"

namespace kelpie::io {

struct Address {
    std::string host;
    uint16_t port = 0;

    // "127.0.0.1:8283"; an IPv6 host is bracketed: "[::1]:8283".
    std::string to_string() const;
    // Parses "host:port" or "[v6]:port". Fails with invalid_argument on anything else.
    static Result<Address> parse(const std::string& text);

    bool operator==(const Address&) const = default;
};

class Connection {
public:
    virtual ~Connection() = default;
    // Reads at least one byte into `buffer`. Returns the count; 0 means the peer closed its side.
    virtual Task<Result<size_t>> read_some(std::span<char> buffer) = 0;
    // Writes all of `bytes` (which must stay valid until the task completes).
    virtual Task<Status> write_all(std::span<const char> bytes) = 0;
    // Closes the connection; operations in flight fail. Idempotent.
    virtual void close() = 0;
    virtual Address peer_address() const = 0;
};

class Listener {
public:
    virtual ~Listener() = default;
    // Waits for the next inbound connection. Fails with closed after close().
    virtual Task<Result<std::unique_ptr<Connection>>> accept() = 0;
    // The bound address (with the port the OS chose, if 0 was asked for).
    virtual Address local_address() const = 0;
    // Stops listening; a pending accept() fails with closed. Idempotent.
    virtual void close() = 0;
};

class Network {
public:
    virtual ~Network() = default;
    // Binds and listens on `address` (port 0: any free port). Fails with io_error (address in
    // use, permission denied, unknown host) and a message saying which.
    virtual Result<std::unique_ptr<Listener>> listen(const Address& address) = 0;
    // Connects over TCP. `address.host` is an IP address or a name to resolve (each resolved
    // address is tried in turn). Fails with io_error naming the address and the OS error.
    virtual Task<Result<std::unique_ptr<Connection>>> connect(const Address& address) = 0;
    // Connects over TCP, then TLS (1.2 or later): `server_name` goes out as SNI, and the peer's
    // certificate must chain to a trusted CA and name `server_name` (an IP address is matched
    // against the certificate's IP entries). The trusted CAs are the system's (or those named
    // by the SSL_CERT_FILE / SSL_CERT_DIR environment variables) plus any the world was given.
    // Fails with io_error saying why (e.g. "certificate verify failed: self-signed
    // certificate"); a network without TLS fails with unavailable.
    virtual Task<Result<std::unique_ptr<Connection>>> connect_tls(const Address& address,
                                                                  std::string server_name) = 0;
};

}  // namespace kelpie::io
