#pragma once

// TCP and TLS on Boost.Asio (OpenSSL): the real io::Network.

#include <memory>
#include <optional>
#include <string>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include "io/network.h"

namespace kelpie::io::real {

class RealNetwork final : public Network {
public:
    // `tls_ca_file`: extra trusted CAs for connect_tls (RealWorldOptions::tls_ca_file).
    RealNetwork(boost::asio::io_context& context, std::string tls_ca_file)
        : context_(context), tls_ca_file_(std::move(tls_ca_file)) {}
    Result<std::unique_ptr<Listener>> listen(const Address& address) override;
    Task<Result<std::unique_ptr<Connection>>> connect(const Address& address) override;
    Task<Result<std::unique_ptr<Connection>>> connect_tls(const Address& address,
                                                          std::string server_name) override;

    // The client TLS context, made on first use (loading the trusted CAs once).
    Result<boost::asio::ssl::context*> tls_context();

private:
    Task<Result<boost::asio::ip::tcp::socket>> connect_socket(const Address& address);

    boost::asio::io_context& context_;
    std::string tls_ca_file_;
    std::optional<boost::asio::ssl::context> tls_;
};

}  // namespace kelpie::io::real
