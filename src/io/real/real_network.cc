#include "io/real/real_network.h"

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

class TcpConnection final : public Connection {
public:
    explicit TcpConnection(tcp::socket socket) : socket_(std::move(socket)) {
        error_code ignored;
        socket_.set_option(tcp::no_delay(true), ignored);
        const tcp::endpoint peer = socket_.remote_endpoint(ignored);
        peer_ = to_address(peer);
    }
    ~TcpConnection() override { close(); }

    Task<Result<size_t>> read_some(std::span<char> buffer) override {
        auto [ec, n] = co_await asio_op<size_t>(
            [this, buffer](auto handler) {
                socket_.async_read_some(asio::buffer(buffer.data(), buffer.size()),
                                        std::move(handler));
            },
            [this] { cancel(); });
        if (ec == asio::error::eof) {
            co_return size_t{0};
        }
        if (ec) {
            co_return os_error("read from " + peer_.to_string(), ec);
        }
        co_return n;
    }

    Task<Status> write_all(std::span<const char> bytes) override {
        auto [ec, n] = co_await asio_op<size_t>(
            [this, bytes](auto handler) {
                asio::async_write(socket_, asio::buffer(bytes.data(), bytes.size()),
                                  std::move(handler));
            },
            [this] { cancel(); });
        if (ec) {
            co_return os_error("write to " + peer_.to_string(), ec);
        }
        KELPIE_ASSERT(n == bytes.size());
        co_return Status();
    }

    void close() override {
        error_code ignored;
        if (socket_.is_open()) {
            socket_.shutdown(tcp::socket::shutdown_both, ignored);
            socket_.close(ignored);
        }
    }

    Address peer_address() const override { return peer_; }

private:
    void cancel() {
        error_code ignored;
        socket_.cancel(ignored);
    }

    tcp::socket socket_;
    Address peer_;
};

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

Task<Result<std::unique_ptr<Connection>>> RealNetwork::connect(const Address& address) {
    auto endpoint = resolve_numeric_or_localhost(address);
    if (!endpoint.ok()) {
        co_return std::move(endpoint).error();
    }
    tcp::socket socket(context_);
    const tcp::endpoint target = *endpoint;
    auto ec = co_await asio_op<void>(
        [&socket, target](auto handler) { socket.async_connect(target, std::move(handler)); },
        [&socket] {
            error_code ignored;
            socket.cancel(ignored);
        });
    if (ec) {
        co_return os_error("connect to " + address.to_string(), ec);
    }
    co_return std::unique_ptr<Connection>(std::make_unique<TcpConnection>(std::move(socket)));
}

}  // namespace kelpie::io::real
