#pragma once

// TCP on Boost.Asio: the real io::Network.

#include <boost/asio.hpp>

#include "io/network.h"

namespace kelpie::io::real {

class RealNetwork final : public Network {
public:
    explicit RealNetwork(boost::asio::io_context& context) : context_(context) {}
    Result<std::unique_ptr<Listener>> listen(const Address& address) override;
    Task<Result<std::unique_ptr<Connection>>> connect(const Address& address) override;

private:
    boost::asio::io_context& context_;
};

}  // namespace kelpie::io::real
