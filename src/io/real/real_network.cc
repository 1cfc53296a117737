#include "io/real/real_network.h"

#include <vector>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "io/real/asio_await.h"

namespace kelpie::io::real {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

Error os_error(const std::string& what, const error_code& ec) {
    return Error(ErrorCode::io_error, what + ": " + ec.message());
}

Address to_address(const tcp::endpoint& endpoint) {
    return Address{endpoint.address().to_string(), endpoint.port()};
}

// One connection over `Stream`: a tcp::socket, or an ssl::stream over one.
template <typename Stream>
class StreamConnection final : public Connection {
public:
    template <typename... Args>
    explicit StreamConnection(Args&&... args) : stream_(std::forward<Args>(args)...) {
        error_code ignored;
        socket().set_option(tcp::no_delay(true), ignored);
        peer_ = to_address(socket().remote_endpoint(ignored));
    }
    ~StreamConnection() override { close(); }

    Stream& stream() { return stream_; }

    Task<Result<size_t>> read_some(std::span<char> buffer) override {
        // lint: allow(lambda-await): not a coroutine call; the closure holds no owning member
        auto [ec, n] = co_await asio_op<size_t>(
            [this, buffer](auto handler) {
                stream_.async_read_some(asio::buffer(buffer.data(), buffer.size()),
                                        std::move(handler));
            },
            [this] { cancel(); });
        // A TLS peer that closes without close_notify ends the stream as plain TCP would; the
        // protocol above (HTTP's framing) decides whether the answer was complete.
        if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
            co_return size_t{0};
        }
        if (ec) {
            co_return os_error("read from " + peer_.to_string(), ec);
        }
        co_return n;
    }

    Task<Status> write_all(std::span<const char> bytes) override {
        // lint: allow(lambda-await): not a coroutine call; the closure holds no owning member
        auto [ec, n] = co_await asio_op<size_t>(
            [this, bytes](auto handler) {
                asio::async_write(stream_, asio::buffer(bytes.data(), bytes.size()),
                                  std::move(handler));
            },
            [this] { cancel(); });
        if (ec) {
            co_return os_error("write to " + peer_.to_string(), ec);
        }
        KELPIE_ASSERT(n == bytes.size());
        co_return Status();
    }

    // Closes the socket without a TLS close_notify: close() cannot wait, and every protocol
    // Kelpie speaks over TLS frames its messages itself.
    void close() override {
        error_code ignored;
        if (socket().is_open()) {
            socket().shutdown(tcp::socket::shutdown_both, ignored);
            socket().close(ignored);
        }
    }

    Address peer_address() const override { return peer_; }

private:
    tcp::socket& socket() {
        if constexpr (std::is_same_v<Stream, tcp::socket>) {
            return stream_;
        } else {
            return stream_.next_layer();
        }
    }
    void cancel() {
        error_code ignored;
        socket().cancel(ignored);
    }

    Stream stream_;
    Address peer_;
};

using TcpConnection = StreamConnection<tcp::socket>;
using TlsConnection = StreamConnection<asio::ssl::stream<tcp::socket>>;

class TcpListener final : public Listener {
public:
    TcpListener(tcp::acceptor acceptor) : acceptor_(std::move(acceptor)) {
        local_ = to_address(acceptor_.local_endpoint());
    }
    ~TcpListener() override { close(); }

    Task<Result<std::unique_ptr<Connection>>> accept() override {
        if (!acceptor_.is_open()) {
            co_return Error(ErrorCode::closed, "listener on " + local_.to_string() + " is closed");
        }
        // lint: allow(lambda-await): not a coroutine call; the closure holds no owning member
        auto [ec, socket] = co_await asio_op<tcp::socket>(
            [this](auto handler) { acceptor_.async_accept(std::move(handler)); },
            [this] {
                error_code ignored;
                acceptor_.cancel(ignored);
            });
        if (ec == asio::error::operation_aborted || !acceptor_.is_open()) {
            co_return Error(ErrorCode::closed, "listener on " + local_.to_string() + " is closed");
        }
        if (ec) {
            co_return os_error("accept on " + local_.to_string(), ec);
        }
        co_return std::unique_ptr<Connection>(std::make_unique<TcpConnection>(std::move(socket)));
    }

    Address local_address() const override { return local_; }

    void close() override {
        error_code ignored;
        acceptor_.close(ignored);
    }

private:
    tcp::acceptor acceptor_;
    Address local_;
};

// For listening: an IP address, or localhost (no name resolution for what we bind).
Result<tcp::endpoint> resolve_numeric_or_localhost(const Address& address) {
    std::string host = address.host;
    if (host == "localhost") {
        host = "127.0.0.1";
    }
    error_code ec;
    const asio::ip::address ip = asio::ip::make_address(host, ec);
    if (ec) {
        return Error(ErrorCode::invalid_argument,
                     "host '" + address.host + "' is not an IP address (or localhost)");
    }
    return tcp::endpoint(ip, address.port);
}

// Why OpenSSL refused the peer's certificate, if it did ("self-signed certificate",
// "hostname mismatch"); empty otherwise.
std::string verify_failure(asio::ssl::stream<tcp::socket>& stream) {
    const long result = SSL_get_verify_result(stream.native_handle());
    if (result == X509_V_OK) {
        return "";
    }
    return X509_verify_cert_error_string(result);
}

}  // namespace

Result<std::unique_ptr<Listener>> RealNetwork::listen(const Address& address) {
    auto endpoint = resolve_numeric_or_localhost(address);
    if (!endpoint.ok()) {
        return std::move(endpoint).error();
    }
    tcp::acceptor acceptor(context_);
    error_code ec;
    acceptor.open(endpoint->protocol(), ec);
    if (ec) {
        return os_error("open listener for " + address.to_string(), ec);
    }
    acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    acceptor.bind(*endpoint, ec);
    if (ec) {
        return os_error("bind " + address.to_string(), ec);
    }
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        return os_error("listen on " + address.to_string(), ec);
    }
    return std::unique_ptr<Listener>(std::make_unique<TcpListener>(std::move(acceptor)));
}

Task<Result<tcp::socket>> RealNetwork::connect_socket(const Address& address) {
    std::vector<tcp::endpoint> targets;
    error_code ec;
    const asio::ip::address ip = asio::ip::make_address(address.host, ec);
    if (!ec) {
        targets.emplace_back(ip, address.port);
    } else {
        tcp::resolver resolver(context_);
        const std::string host = address.host;
        const std::string port = std::to_string(address.port);
        // lint: allow(lambda-await): not a coroutine call; the closure holds no owning member
        auto [resolve_ec, results] = co_await asio_op<tcp::resolver::results_type>(
            // By reference: GCC 12 destroys a co_await operand's non-trivial captures twice.
            [&resolver, &host, &port](auto handler) {
                resolver.async_resolve(host, port, std::move(handler));
            },
            [&resolver] { resolver.cancel(); });
        if (resolve_ec) {
            co_return os_error("resolve " + address.host, resolve_ec);
        }
        for (const auto& entry : results) {
            targets.push_back(entry.endpoint());
        }
    }
    error_code last = asio::error::host_not_found;
    for (const tcp::endpoint& target : targets) {
        tcp::socket socket(context_);
        // lint: allow(lambda-await): not a coroutine call; the closure holds no owning member
        last = co_await asio_op<void>(
            [&socket, target](auto handler) { socket.async_connect(target, std::move(handler)); },
            [&socket] {
                error_code ignored;
                socket.cancel(ignored);
            });
        if (!last) {
            co_return std::move(socket);
        }
    }
    co_return os_error("connect to " + address.to_string(), last);
}

Task<Result<std::unique_ptr<Connection>>> RealNetwork::connect(const Address& address) {
    Result<tcp::socket> socket = co_await connect_socket(address);
    if (!socket.ok()) {
        co_return std::move(socket).error();
    }
    co_return std::unique_ptr<Connection>(std::make_unique<TcpConnection>(std::move(*socket)));
}

Result<asio::ssl::context*> RealNetwork::tls_context() {
    if (tls_.has_value()) {
        return &*tls_;
    }
    asio::ssl::context context(asio::ssl::context::tls_client);
    error_code ec;
    context.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                            asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                            asio::ssl::context::no_tlsv1_1,
                        ec);
    context.set_default_verify_paths(ec);
    if (ec) {
        return os_error("load the system's trusted CAs", ec);
    }
    if (!tls_ca_file_.empty()) {
        context.load_verify_file(tls_ca_file_, ec);
        if (ec) {
            return os_error("load trusted CAs from '" + tls_ca_file_ + "'", ec);
        }
    }
    context.set_verify_mode(asio::ssl::verify_peer);
    tls_.emplace(std::move(context));
    return &*tls_;
}

Task<Result<std::unique_ptr<Connection>>> RealNetwork::connect_tls(const Address& address,
                                                                     std::string server_name) {
    Result<asio::ssl::context*> tls = tls_context();
    if (!tls.ok()) {
        co_return std::move(tls).error();
    }
    Result<tcp::socket> socket = co_await connect_socket(address);
    if (!socket.ok()) {
        co_return std::move(socket).error();
    }
    auto connection = std::make_unique<TlsConnection>(std::move(*socket), **tls);
    asio::ssl::stream<tcp::socket>& stream = connection->stream();
    // OpenSSL checks the certificate against the name (or IP address) during the handshake, so a
    // mismatch is refused with its reason ("hostname mismatch"). SNI carries names only (RFC 6066).
    SSL* ssl = stream.native_handle();
    error_code not_ip;
    asio::ip::make_address(server_name, not_ip);
    const bool named = not_ip.failed();
    const bool checked =
        named ? SSL_set_tlsext_host_name(ssl, server_name.c_str()) == 1 &&
                    SSL_set1_host(ssl, server_name.c_str()) == 1
              : X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server_name.c_str()) == 1;
    if (!checked) {
        co_return Error(ErrorCode::io_error, "TLS to " + address.to_string() +
                                                 ": cannot use server name '" + server_name + "'");
    }
    // lint: allow(lambda-await): not a coroutine call; the closure holds no owning member
    const error_code ec = co_await asio_op<void>(
        [&stream](auto handler) {
            stream.async_handshake(asio::ssl::stream_base::client, std::move(handler));
        },
        [&stream] {
            error_code cancel_ignored;
            stream.next_layer().cancel(cancel_ignored);
        });
    if (ec) {
        const std::string why = verify_failure(stream);
        co_return Error(ErrorCode::io_error,
                        "TLS handshake with " + address.to_string() + " failed: " +
                            (why.empty() ? ec.message() : "certificate verify failed: " + why));
    }
    co_return std::unique_ptr<Connection>(std::move(connection));
}

}  // namespace kelpie::io::real
