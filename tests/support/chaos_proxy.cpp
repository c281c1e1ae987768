// sentinel-chaos-proxy: a TCP proxy for soak tests that breaks the connections it carries at random.
//
//   sentinel-chaos-proxy --listen 127.0.0.1:0 --upstream 127.0.0.1:7460 --port-file FILE [options]
//
// Each accepted connection is forwarded to --upstream (a new upstream connection per client; when the upstream
// refuses, the client is closed). In chaos mode (the default) a connection may be:
// - refused: closed with a reset right after the accept (--refuse-percent);
// - cut after a random number of bytes (exponential, mean --mean-bytes from the client, --mean-down-bytes from
//   the upstream; half the connections get such a budget, for one direction or the other): the bytes up to the
//   budget are forwarded, then both sides get a reset, mid-frame as a rule (a report cut in half, or the
//   collector's acks lost after it stored the reports: the agent sends them again);
// - ended when its random lifetime runs out (exponential, mean --mean-life-ms): a reset (RST, both sides), a
//   clean close (FIN), or, --stall-percent of the time, a stall: nothing is forwarded any more in either
//   direction for up to --stall-ms-max (the peers see a silent link: ack and read timeouts), then a reset.
// SIGUSR1 switches to calm mode (no more faults; stalled connections are reset at once so their peers
// reconnect), SIGUSR2 back to chaos. SIGTERM/SIGINT: prints one line of counts and exits 0.
// The port file gets "listen=HOST:PORT\n" once listening (written to FILE.tmp, then renamed).
#include <signal.h>

#include <utility>  // before Boost.Asio: its awaitable.hpp uses std::exchange without including it
#include <boost/asio.hpp>
#include <boost/program_options.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>

namespace asio = boost::asio;
namespace po = boost::program_options;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

struct Settings {
  double mean_life_ms = 3000;
  double mean_bytes = 256 * 1024;
  double mean_down_bytes = 200;
  unsigned stall_percent = 20;
  unsigned refuse_percent = 10;
  unsigned stall_ms_max = 6000;
};

struct Stats {
  uint64_t accepted = 0, refused = 0, upstream_failed = 0, resets = 0, closes = 0, stalls = 0, cuts = 0;
  uint64_t bytes_up = 0, bytes_down = 0;
  std::string line() const {
    return "proxy: accepted=" + std::to_string(accepted) + " refused=" + std::to_string(refused) +
           " upstream_failed=" + std::to_string(upstream_failed) + " resets=" + std::to_string(resets) +
           " closes=" + std::to_string(closes) + " stalls=" + std::to_string(stalls) +
           " cuts=" + std::to_string(cuts) + " bytes_up=" + std::to_string(bytes_up) +
           " bytes_down=" + std::to_string(bytes_down);
  }
};

struct Proxy;

class Pair : public std::enable_shared_from_this<Pair> {
 public:
  Pair(Proxy& proxy, tcp::socket client);
  void start();
  void calm_down();

 private:
  void pump(bool up);
  void end(bool reset);
  void stall();

  Proxy& proxy_;
  tcp::socket client_;
  tcp::socket upstream_;
  asio::steady_timer life_timer_;
  std::array<char, 16 * 1024> buffers_[2];
  uint64_t budget_[2] = {0, 0};  // bytes before a cut, [1] from the client, [0] from the upstream; 0 = none
  uint64_t sent_[2] = {0, 0};
  bool stalled_ = false;
  bool closed_ = false;
};

struct Proxy {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  tcp::endpoint upstream;
  Settings settings;
  Stats stats;
  std::mt19937_64 random;
  bool calm = false;
  std::vector<std::weak_ptr<Pair>> pairs;

  double exponential(double mean) { return std::exponential_distribution<double>(1.0 / mean)(random); }
  bool percent(unsigned p) { return random() % 100 < p; }

  void accept() {
    acceptor.async_accept([this](const error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        ++stats.accepted;
        if (!calm && percent(settings.refuse_percent)) {
          ++stats.refused;
          error_code ignored;
          socket.set_option(asio::socket_base::linger(true, 0), ignored);
          socket.close(ignored);
        } else {
          auto pair = std::make_shared<Pair>(*this, std::move(socket));
          // Forget pairs that are gone, now and then.
          if (pairs.size() > 64) std::erase_if(pairs, [](const auto& weak) { return weak.expired(); });
          pairs.push_back(pair);
          pair->start();
        }
      }
      accept();
    });
  }
};

Pair::Pair(Proxy& proxy, tcp::socket client)
    : proxy_(proxy), client_(std::move(client)), upstream_(proxy.io), life_timer_(proxy.io) {}

void Pair::start() {
  auto self = shared_from_this();
  upstream_.async_connect(proxy_.upstream, [this, self](const error_code& ec) {
    if (closed_) return;
    if (ec) {
      ++proxy_.stats.upstream_failed;
      closed_ = true;
      error_code ignored;
      client_.close(ignored);
      upstream_.close(ignored);
      return;
    }
    error_code ignored;
    client_.set_option(tcp::no_delay(true), ignored);
    upstream_.set_option(tcp::no_delay(true), ignored);
    if (!proxy_.calm) {
      if (proxy_.percent(50)) {
        const bool up = proxy_.percent(60);
        budget_[up] = 1 + static_cast<uint64_t>(
                              proxy_.exponential(up ? proxy_.settings.mean_bytes : proxy_.settings.mean_down_bytes));
      }
      life_timer_.expires_after(std::chrono::milliseconds(
          1 + static_cast<int64_t>(proxy_.exponential(proxy_.settings.mean_life_ms))));
      life_timer_.async_wait([this, self](const error_code& timer_ec) {
        if (timer_ec || closed_ || proxy_.calm) return;
        if (proxy_.percent(proxy_.settings.stall_percent)) return stall();
        end(proxy_.percent(70));
      });
    }
    pump(true);
    pump(false);
  });
}

void Pair::pump(bool up) {
  if (closed_ || stalled_) return;
  auto self = shared_from_this();
  tcp::socket& from = up ? client_ : upstream_;
  from.async_read_some(asio::buffer(buffers_[up]), [this, self, up](const error_code& ec, size_t n) {
    if (closed_) return;
    if (ec) return end(false);  // one side went away: the other gets a clean close
    if (stalled_) return;       // the bytes are swallowed: a stalled link delivers nothing
    size_t forward = n;
    bool cut = false;
    if (budget_[up] != 0 && !proxy_.calm && sent_[up] + n >= budget_[up]) {
      forward = static_cast<size_t>(budget_[up] - sent_[up]);
      cut = true;
    }
    sent_[up] += forward;
    (up ? proxy_.stats.bytes_up : proxy_.stats.bytes_down) += forward;
    tcp::socket& to = up ? upstream_ : client_;
    asio::async_write(to, asio::buffer(buffers_[up].data(), forward),
                      [this, self, up, cut](const error_code& write_ec, size_t) {
                        if (closed_) return;
                        if (write_ec) return end(false);
                        if (cut) {
                          ++proxy_.stats.cuts;
                          return end(true);
                        }
                        pump(up);
                      });
  });
}

void Pair::end(bool reset) {
  if (closed_) return;
  closed_ = true;
  life_timer_.cancel();
  error_code ignored;
  if (reset) {
    ++proxy_.stats.resets;
    client_.set_option(asio::socket_base::linger(true, 0), ignored);
    upstream_.set_option(asio::socket_base::linger(true, 0), ignored);
  } else {
    ++proxy_.stats.closes;
    client_.shutdown(tcp::socket::shutdown_both, ignored);
    upstream_.shutdown(tcp::socket::shutdown_both, ignored);
  }
  client_.close(ignored);
  upstream_.close(ignored);
}

void Pair::stall() {
  ++proxy_.stats.stalls;
  stalled_ = true;
  auto self = shared_from_this();
  life_timer_.expires_after(std::chrono::milliseconds(
      1 + proxy_.random() % std::max<unsigned>(1, proxy_.settings.stall_ms_max)));
  life_timer_.async_wait([this, self](const error_code& ec) {
    if (!ec) end(true);
  });
}

void Pair::calm_down() {
  if (stalled_) end(true);
}

std::optional<tcp::endpoint> parse_endpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  error_code ec;
  auto address = asio::ip::make_address(text.substr(0, colon), ec);
  if (ec) return std::nullopt;
  try {
    return tcp::endpoint(address, static_cast<uint16_t>(std::stoul(text.substr(colon + 1))));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts("sentinel-chaos-proxy: a TCP proxy that drops connections at random (soak tests)");
  // clang-format off
  opts.add_options()
    ("help,h", "show this help")
    ("listen", po::value<std::string>()->default_value("127.0.0.1:0"), "HOST:PORT to accept on (port 0: any)")
    ("upstream", po::value<std::string>(), "HOST:PORT to forward to (an IP address)")
    ("port-file", po::value<std::string>(), "written with listen=HOST:PORT once listening")
    ("seed", po::value<uint64_t>()->default_value(1), "random seed")
    ("mean-life-ms", po::value<double>()->default_value(3000), "mean lifetime of a connection before a fault")
    ("mean-bytes", po::value<double>()->default_value(256 * 1024), "mean client bytes before a cut")
    ("mean-down-bytes", po::value<double>()->default_value(200), "mean upstream bytes before a cut")
    ("stall-percent", po::value<unsigned>()->default_value(20), "faults that are stalls rather than resets/closes")
    ("stall-ms-max", po::value<unsigned>()->default_value(6000), "longest stall before the reset")
    ("refuse-percent", po::value<unsigned>()->default_value(10), "connections reset right after the accept")
    ("calm", "start in calm mode (no faults until SIGUSR2)");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "sentinel-chaos-proxy: " << e.what() << "\n" << opts << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return 0;
  }
  const auto listen = parse_endpoint(vm["listen"].as<std::string>());
  const auto upstream = vm.count("upstream") ? parse_endpoint(vm["upstream"].as<std::string>()) : std::nullopt;
  if (!listen || !upstream) {
    std::cerr << "sentinel-chaos-proxy: --listen and --upstream must be IP:PORT\n";
    return 2;
  }
  Proxy proxy;
  proxy.upstream = *upstream;
  proxy.random.seed(vm["seed"].as<uint64_t>());
  proxy.settings.mean_life_ms = std::max(1.0, vm["mean-life-ms"].as<double>());
  proxy.settings.mean_bytes = std::max(1.0, vm["mean-bytes"].as<double>());
  proxy.settings.mean_down_bytes = std::max(1.0, vm["mean-down-bytes"].as<double>());
  proxy.settings.stall_percent = vm["stall-percent"].as<unsigned>();
  proxy.settings.stall_ms_max = vm["stall-ms-max"].as<unsigned>();
  proxy.settings.refuse_percent = vm["refuse-percent"].as<unsigned>();
  proxy.calm = vm.count("calm") != 0;
  try {
    proxy.acceptor.open(listen->protocol());
    proxy.acceptor.set_option(tcp::acceptor::reuse_address(true));
    proxy.acceptor.bind(*listen);
    proxy.acceptor.listen();
  } catch (const boost::system::system_error& e) {
    std::cerr << "sentinel-chaos-proxy: cannot listen on " << vm["listen"].as<std::string>() << ": " << e.what()
              << "\n";
    return 1;
  }
  if (vm.count("port-file")) {
    const std::string path = vm["port-file"].as<std::string>();
    const auto local = proxy.acceptor.local_endpoint();
    std::ofstream(path + ".tmp") << "listen=" << local.address().to_string() << ":" << local.port() << "\n";
    std::rename((path + ".tmp").c_str(), path.c_str());
  }

  asio::signal_set stop(proxy.io, SIGTERM, SIGINT);
  stop.async_wait([&](const error_code& ec, int) {
    if (ec) return;
    error_code ignored;
    proxy.acceptor.close(ignored);
    proxy.io.stop();
  });
  asio::signal_set mode(proxy.io, SIGUSR1, SIGUSR2);
  std::function<void(const error_code&, int)> on_mode = [&](const error_code& ec, int signal) {
    if (ec) return;
    proxy.calm = signal == SIGUSR1;
    std::cout << "proxy: " << (proxy.calm ? "calm" : "chaos") << " mode" << std::endl;
    if (proxy.calm) {
      for (const auto& weak : proxy.pairs) {
        if (auto pair = weak.lock()) pair->calm_down();
      }
    }
    mode.async_wait(on_mode);
  };
  mode.async_wait(on_mode);
  proxy.accept();
  proxy.io.run();
  std::cout << proxy.stats.line() << std::endl;
  return 0;
}
