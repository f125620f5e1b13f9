// Tests for the memcached/repcached command line and the config file.
#include "core/config/settings.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "core/config/extended_options.h"

namespace twincache {
namespace {

ParseOutcome Parse(std::vector<const char*> args, Settings* settings) {
  args.insert(args.begin(), "twincached");
  return ParseSettings(static_cast<int>(args.size()), args.data(), settings);
}

TEST(SettingsTest, DefaultsAreMemcached) {
  Settings s;
  ASSERT_TRUE(Parse({}, &s).ok);
  EXPECT_EQ(s.port, 11211);
  EXPECT_EQ(s.memory_limit_mb, 64u);
  EXPECT_EQ(s.max_connections, 1024u);
  EXPECT_EQ(s.threads, 4u);
  EXPECT_EQ(s.item_size_max, 1u << 20);
  EXPECT_FALSE(s.no_evict);
  EXPECT_EQ(s.admin_listen, "127.0.0.1:11213");  // loopback only unless configured otherwise
}

TEST(SettingsTest, AdminEndpointFollowsTheClientPort) {
  Settings s;
  ASSERT_TRUE(Parse({"-p", "11311"}, &s).ok);
  EXPECT_EQ(s.admin_listen, "127.0.0.1:11313");
  Settings given;
  ASSERT_TRUE(Parse({"-p", "11311", "--admin-listen", "127.0.0.1:9000"}, &given).ok);
  EXPECT_EQ(given.admin_listen, "127.0.0.1:9000");
  Settings off;
  ASSERT_TRUE(Parse({"--admin-listen", "off"}, &off).ok);
  EXPECT_EQ(off.admin_listen, "off");
  EXPECT_EQ(DefaultAdminListen(65533), "127.0.0.1:65535");
  EXPECT_EQ(DefaultAdminListen(65534), "127.0.0.1:0");
}

TEST(SettingsTest, OperatorGuideLine) {
  Settings s;
  ParseOutcome out = Parse({"-d", "-m", "2048", "-p", "11211", "-u", "memcached", "-c", "2048", "-P",
                            "/run/twincache/twincached.pid"},
                           &s);
  ASSERT_TRUE(out.ok) << out.message;
  EXPECT_TRUE(s.daemonize);
  EXPECT_EQ(s.memory_limit_mb, 2048u);
  EXPECT_EQ(s.user, "memcached");
  EXPECT_EQ(s.max_connections, 2048u);
  EXPECT_EQ(s.pid_file, "/run/twincache/twincached.pid");
}

TEST(SettingsTest, ShortAndLongForms) {
  Settings s;
  ASSERT_TRUE(Parse({"-l", "127.0.0.1", "-t", "2", "-vv", "-U", "0", "-I", "2m", "-M", "-m", "128"}, &s).ok);
  EXPECT_EQ(s.listen, "127.0.0.1");
  EXPECT_EQ(s.threads, 2u);
  EXPECT_EQ(s.verbosity, 2);
  EXPECT_EQ(s.item_size_max, 2u << 20);
  EXPECT_TRUE(s.no_evict);
  Settings l;
  ASSERT_TRUE(Parse({"--port", "22122", "--listen", "::1", "--memory-limit", "32", "--conn-limit", "10",
                     "--threads", "1", "--max-item-size", "512k", "--disable-evictions"},
                    &l)
                  .ok);
  EXPECT_EQ(l.port, 22122);
  EXPECT_EQ(l.listen, "::1");
  EXPECT_EQ(l.item_size_max, 512u << 10);
}

TEST(SettingsTest, UdpIsRefusedClearly) {
  Settings s;
  ParseOutcome out = Parse({"-U", "11211"}, &s);
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.exit_code, kExitUsage);
  EXPECT_NE(out.message.find("UDP not supported"), std::string::npos);
}

TEST(SettingsTest, BadFlagsExitWithUsage) {
  for (std::vector<const char*> args : std::vector<std::vector<const char*>>{{"--no-such-flag"},
                                                                             {"-p", "notaport"},
                                                                             {"-p", "70000"},
                                                                             {"-t", "0"},
                                                                             {"-I", "12q"},
                                                                             {"-I", "100"},
                                                                             {"-m", "1", "-I", "1m"},
                                                                             {"-c", "0"},
                                                                             {"-B", "negotiating"}}) {
    Settings s;
    ParseOutcome out = Parse(args, &s);
    EXPECT_FALSE(out.ok) << args[0];
    EXPECT_EQ(out.exit_code, kExitUsage) << args[0];
    EXPECT_FALSE(out.message.empty());
    EXPECT_EQ(out.message.find('\n'), std::string::npos) << out.message;
  }
}

TEST(SettingsTest, BindingProtocol) {
  Settings s;
  ASSERT_TRUE(Parse({}, &s).ok);
  EXPECT_EQ(s.protocol, BindingProtocol::kAuto);
  EXPECT_EQ(BindingProtocolName(s.protocol), "auto-negotiate");  // memcached's stats settings spelling
  ASSERT_TRUE(Parse({"-B", "binary"}, &s).ok);
  EXPECT_EQ(s.protocol, BindingProtocol::kBinary);
  EXPECT_EQ(BindingProtocolName(s.protocol), "binary");
  ASSERT_TRUE(Parse({"--protocol", "ascii"}, &s).ok);
  EXPECT_EQ(s.protocol, BindingProtocol::kAscii);
  EXPECT_EQ(BindingProtocolName(s.protocol), "ascii");
  ASSERT_TRUE(Parse({"-B", "auto"}, &s).ok);
  EXPECT_EQ(s.protocol, BindingProtocol::kAuto);
}

TEST(SettingsTest, VersionAndHelpExitZero) {
  Settings s;
  ParseOutcome version = Parse({"--version"}, &s);
  EXPECT_TRUE(version.exit_now);
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.message.find(kTwincacheVersion), std::string::npos);
  ParseOutcome help = Parse({"--help"}, &s);
  EXPECT_TRUE(help.exit_now);
  EXPECT_NE(help.message.find("--memory-limit"), std::string::npos);
}

TEST(SettingsTest, ConfigFileUsesLongNamesAndFlagsWin) {
  std::string path = testing::TempDir() + "/twincached_test.conf";
  {
    std::ofstream f(path);
    f << "# twincached.conf\nport = 22222\nmemory-limit = 256\nthreads = 8\nmax-item-size = \"4m\"\n";
  }
  Settings s;
  ParseOutcome out = Parse({"--config", path.c_str(), "-t", "2"}, &s);
  ASSERT_TRUE(out.ok) << out.message;
  EXPECT_EQ(s.port, 22222);
  EXPECT_EQ(s.memory_limit_mb, 256u);
  EXPECT_EQ(s.threads, 2u);  // the command line wins
  EXPECT_EQ(s.item_size_max, 4u << 20);
  EXPECT_EQ(s.config_file, path);

  {
    std::ofstream f(path);
    f << "prot = 1\n";  // a typo must not pass silently
  }
  Settings t;
  EXPECT_EQ(Parse({"--config", path.c_str()}, &t).exit_code, kExitUsage);
  std::remove(path.c_str());
}

// memcached's -e, and the packaged config's memory-file key.
TEST(SettingsTest, MemoryFile) {
  Settings none;
  ASSERT_TRUE(Parse({}, &none).ok);
  EXPECT_EQ(none.memory_file, "");
  Settings flag;
  ASSERT_TRUE(Parse({"-e", "/var/lib/twincache/state"}, &flag).ok);
  EXPECT_EQ(flag.memory_file, "/var/lib/twincache/state");
  std::string path = testing::TempDir() + "/twincached_memory_file.conf";
  {
    std::ofstream f(path);
    f << "memory-file = \"/var/lib/twincache/twincached.state\"\n";
  }
  Settings file;
  ASSERT_TRUE(Parse({"--config", path.c_str()}, &file).ok);
  EXPECT_EQ(file.memory_file, "/var/lib/twincache/twincached.state");
  Settings wins;
  ASSERT_TRUE(Parse({"--config", path.c_str(), "--memory-file", "/tmp/x"}, &wins).ok);
  EXPECT_EQ(wins.memory_file, "/tmp/x");
  std::remove(path.c_str());
}

TEST(SettingsTest, EnableSasl) {
  Settings off;
  ASSERT_TRUE(Parse({}, &off).ok);
  EXPECT_FALSE(off.sasl);
  Settings s;
  ASSERT_TRUE(Parse({"-S"}, &s).ok);
  EXPECT_TRUE(s.sasl);
  EXPECT_EQ(s.protocol, BindingProtocol::kBinary) << "SASL is binary-only: -S means -B binary";
  Settings l;
  ASSERT_TRUE(Parse({"--enable-sasl"}, &l).ok);
  EXPECT_TRUE(l.sasl);
  Settings b;
  ASSERT_TRUE(Parse({"-S", "-B", "binary"}, &b).ok);
  for (const char* protocol : {"ascii", "auto"}) {
    Settings refused;
    const ParseOutcome out = Parse({"-S", "-B", protocol}, &refused);
    EXPECT_FALSE(out.ok) << protocol;
    EXPECT_EQ(out.exit_code, kExitUsage);
    EXPECT_EQ(out.message, "ERROR: You cannot allow the ASCII protocol while using SASL.");
  }

  std::string path = testing::TempDir() + "/twincached_sasl_test.conf";
  {
    std::ofstream f(path);
    f << "enable-sasl = true\n";
  }
  Settings c;
  ParseOutcome out = Parse({"--config", path.c_str()}, &c);
  ASSERT_TRUE(out.ok) << out.message;
  EXPECT_TRUE(c.sasl);
  std::remove(path.c_str());
}

TEST(SettingsTest, EnableShutdown) {
  Settings off;
  ASSERT_TRUE(Parse({}, &off).ok);
  EXPECT_FALSE(off.shutdown_command);
  Settings s;
  ASSERT_TRUE(Parse({"-A"}, &s).ok);
  EXPECT_TRUE(s.shutdown_command);
  Settings l;
  ASSERT_TRUE(Parse({"--enable-shutdown"}, &l).ok);
  EXPECT_TRUE(l.shutdown_command);
}

TEST(SettingsTest, ExtendedOptionsHonouredAndIgnored) {
  Settings s;
  ParseOutcome out = Parse({"-o", "modern,idle_timeout=30", "-o", "hashpower=20,slab_reassign,modern,"}, &s);
  ASSERT_TRUE(out.ok) << out.message;
  EXPECT_EQ(s.idle_timeout_s, 30);
  EXPECT_EQ(s.extended_ignored, (std::vector<std::string>{"modern", "hashpower", "slab_reassign"}));
  Settings honoured;
  ASSERT_TRUE(Parse({"--extended", "maxconns_fast,idle_timeout=0"}, &honoured).ok);
  EXPECT_EQ(honoured.idle_timeout_s, 0);
  EXPECT_TRUE(honoured.extended_ignored.empty());
  // A value after a key that takes none is ignored, as memcached does.
  Settings flag_value;
  ASSERT_TRUE(Parse({"-o", "modern=1"}, &flag_value).ok);
  EXPECT_EQ(flag_value.extended_ignored, std::vector<std::string>{"modern"});
}

TEST(SettingsTest, EveryMemcachedExtendedKeyIsAccepted) {
  for (const ExtendedOptionSpec& spec : ExtendedOptionSpecs()) {
    std::string item(spec.key);
    if (spec.value == ExtendedValue::kRequired) {
      item += "=1";
    }
    Settings s;
    ParseOutcome out = Parse({"-o", item.c_str()}, &s);
    EXPECT_TRUE(out.ok) << item << ": " << out.message;
    const bool ignored = !s.extended_ignored.empty() && s.extended_ignored[0] == spec.key;
    EXPECT_EQ(ignored, spec.treatment == ExtendedTreatment::kIgnored) << item;
  }
  EXPECT_NE(FindExtendedOption("ssl_chain_cert"), nullptr);
  EXPECT_NE(FindExtendedOption("ext_path"), nullptr);
  EXPECT_EQ(FindExtendedOption("proxy_config"), nullptr);  // not in Debian's build
}

TEST(SettingsTest, ExtendedOptionErrorsNameTheKey) {
  const std::vector<std::pair<std::vector<const char*>, std::string>> cases = {
      {{"-o", "bogus"}, "Illegal suboption \"bogus\""},
      {{"-o", "modern,bogus=1"}, "Illegal suboption \"bogus\""},
      {{"-o", "modern,,idle_timeout=1"}, "Illegal suboption \"\""},
      {{"-o", "proxy_config=/etc/proxy.lua"}, "Illegal suboption \"proxy_config\""},
      {{"-o", "idle_timeout"}, "idle_timeout"},
      {{"-o", "hashpower"}, "hashpower"},
      {{"-o", "idle_timeout=-1"}, "idle_timeout"},
      {{"-o", "idle_timeout=10s"}, "idle_timeout"},
  };
  for (const auto& [args, expected] : cases) {
    Settings s;
    ParseOutcome out = Parse(args, &s);
    EXPECT_FALSE(out.ok) << args[1];
    EXPECT_EQ(out.exit_code, kExitUsage) << args[1];
    EXPECT_NE(out.message.find(expected), std::string::npos) << args[1] << ": " << out.message;
    EXPECT_EQ(out.message.find('\n'), std::string::npos) << out.message;
  }
}

TEST(SettingsTest, ExtendedOptionsInTheConfigFile) {
  std::string path = testing::TempDir() + "/twincached_extended_test.conf";
  {
    std::ofstream f(path);
    f << "idle_timeout = 60\nmodern = true\nno_lru_maintainer = false\nhash_algorithm = \"xxh3\"\n"
         "enable-shutdown = true\n";
  }
  Settings s;
  ParseOutcome out = Parse({"--config", path.c_str()}, &s);
  ASSERT_TRUE(out.ok) << out.message;
  EXPECT_EQ(s.idle_timeout_s, 60);
  EXPECT_EQ(s.extended_ignored, (std::vector<std::string>{"hash_algorithm", "modern"}));
  EXPECT_TRUE(s.shutdown_command);
  // -o on the command line wins over the file's key.
  Settings flags;
  ASSERT_TRUE(Parse({"--config", path.c_str(), "-o", "idle_timeout=5"}, &flags).ok);
  EXPECT_EQ(flags.idle_timeout_s, 5);

  {
    std::ofstream f(path);
    f << "extended = \"idle_timeout=7,slab_reassign\"\n";
  }
  Settings line;
  ASSERT_TRUE(Parse({"--config", path.c_str()}, &line).ok);
  EXPECT_EQ(line.idle_timeout_s, 7);
  EXPECT_EQ(line.extended_ignored, std::vector<std::string>{"slab_reassign"});

  for (const char* bad : {"bogus_key = 1\n", "modern = 2\n", "idle_timeout = \"x\"\n"}) {
    {
      std::ofstream f(path);
      f << bad;
    }
    Settings t;
    ParseOutcome refused = Parse({"--config", path.c_str()}, &t);
    EXPECT_FALSE(refused.ok) << bad;
    EXPECT_EQ(refused.exit_code, kExitUsage) << bad;
  }
  std::remove(path.c_str());
}

TEST(SettingsTest, RepcachedReplicationFlags) {
  Settings s;
  ASSERT_TRUE(Parse({"-p", "11211", "-x", "10.0.0.17"}, &s).ok);
  EXPECT_EQ(s.peer_host, "10.0.0.17");
  EXPECT_EQ(s.repl_listen_port, 11212);
  EXPECT_EQ(s.repl_connect_port, 11212);
  Settings x;
  ASSERT_TRUE(Parse({"-x", "127.0.0.1", "-X", "21001:21002"}, &x).ok);
  EXPECT_EQ(x.repl_listen_port, 21001);
  EXPECT_EQ(x.repl_connect_port, 21002);
  Settings one;
  ASSERT_TRUE(Parse({"-x", "peer.example", "-X", "13000"}, &one).ok);
  EXPECT_EQ(one.repl_listen_port, 13000);
  EXPECT_EQ(one.repl_connect_port, 13000);
  Settings v6;
  ASSERT_TRUE(Parse({"--peer", "[::1]:14000", "--repl-ack", "sync", "--repl-backlog-size", "1m"}, &v6).ok);
  EXPECT_EQ(v6.peer_host, "::1");
  EXPECT_EQ(v6.repl_connect_port, 14000);
  EXPECT_TRUE(v6.repl_ack_sync);
  EXPECT_EQ(v6.repl_backlog_size, 1u << 20);
  for (std::vector<const char*> args : std::vector<std::vector<const char*>>{{"-x", "h", "-X", "0"},
                                                                             {"-x", "h", "-X", "1:x"},
                                                                             {"-x", "h:99999"},
                                                                             {"--repl-ack", "maybe"},
                                                                             {"--repl-backlog-size", "0"},
                                                                             {"-x", "[::1"}}) {
    Settings bad;
    EXPECT_EQ(Parse(args, &bad).exit_code, kExitUsage) << args[1];
  }
}

TEST(SettingsTest, SplitHostPort) {
  std::string host;
  uint16_t port = 7;
  EXPECT_TRUE(SplitHostPort("fe80::1", &host, &port));  // a bare IPv6 literal is a host
  EXPECT_EQ(host, "fe80::1");
  EXPECT_EQ(port, 7);
  EXPECT_TRUE(SplitHostPort("[fe80::1]:99", &host, &port));
  EXPECT_EQ(host, "fe80::1");
  EXPECT_EQ(port, 99);
  EXPECT_TRUE(SplitHostPort("twin-b:11300", &host, &port));
  EXPECT_EQ(host, "twin-b");
  EXPECT_EQ(port, 11300);
  EXPECT_FALSE(SplitHostPort(":11212", &host, &port));
  EXPECT_FALSE(SplitHostPort("h:", &host, &port));
}

TEST(SettingsTest, ParseSize) {
  size_t n = 0;
  EXPECT_TRUE(ParseSize("1048576", &n));
  EXPECT_EQ(n, 1048576u);
  EXPECT_TRUE(ParseSize("1k", &n));
  EXPECT_EQ(n, 1024u);
  EXPECT_TRUE(ParseSize("2M", &n));
  EXPECT_EQ(n, 2u << 20);
  EXPECT_FALSE(ParseSize("", &n));
  EXPECT_FALSE(ParseSize("m", &n));
  EXPECT_FALSE(ParseSize("1mb", &n));
  EXPECT_FALSE(ParseSize("-1", &n));
}

}  // namespace
}  // namespace twincache

namespace twincache {
namespace {

TEST(JoinHostPortTest, BracketsIpv6AndRoundTrips) {
  EXPECT_EQ(JoinHostPort("127.0.0.1", 11211), "127.0.0.1:11211");
  EXPECT_EQ(JoinHostPort("::1", 11212), "[::1]:11212");
  EXPECT_EQ(JoinHostPort("cache-b.example", 1), "cache-b.example:1");
  for (const char* host : {"10.0.0.7", "::ffff:10.0.0.7", "fe80::1", "twin"}) {
    std::string parsed;
    uint16_t port = 0;
    ASSERT_TRUE(SplitHostPort(JoinHostPort(host, 11212), &parsed, &port)) << host;
    EXPECT_EQ(parsed, host);
    EXPECT_EQ(port, 11212);
  }
}

}  // namespace
}  // namespace twincache

namespace twincache {
namespace {

// Client TLS and ASCII auth: memcached's -Z, -o ssl_*, -l notls:, -Y.
TEST(TlsSettingsTest, SslOptionsAreHonoured) {
  Settings s;
  ParseOutcome out =
      Parse({"-Z", "-o",
             "ssl_chain_cert=/etc/t/chain.pem,ssl_key=/etc/t/key.pem,ssl_ca_cert=/etc/t/ca.pem,"
             "ssl_verify_mode=2,ssl_min_version=tlsv1.3,ssl_ciphers=HIGH,ssl_session_cache",
             "-o", "ssl_wbuf_size=32"},
            &s);
  ASSERT_TRUE(out.ok) << out.message;
  EXPECT_TRUE(s.ssl_enabled);
  EXPECT_EQ(s.ssl_chain_cert, "/etc/t/chain.pem");
  EXPECT_EQ(s.ssl_key, "/etc/t/key.pem");
  EXPECT_EQ(s.ssl_ca_cert, "/etc/t/ca.pem");
  EXPECT_EQ(s.ssl_verify_mode, 2);
  EXPECT_EQ(s.ssl_min_version, 3);
  EXPECT_EQ(s.ssl_ciphers, "HIGH");
  EXPECT_TRUE(s.ssl_session_cache);
  EXPECT_EQ(s.extended_ignored, std::vector<std::string>{"ssl_wbuf_size"});
  Settings numeric;  // memcached 1.6.18 takes the version as 0..3
  ASSERT_TRUE(Parse({"--enable-ssl", "-o", "ssl_chain_cert=c.pem,ssl_min_version=2"}, &numeric).ok);
  EXPECT_EQ(numeric.ssl_min_version, 2);
  EXPECT_EQ(SslVersionName(numeric.ssl_min_version), "tlsv1.2");
}

TEST(TlsSettingsTest, BadSslValuesAndCombinations) {
  const std::vector<std::pair<std::vector<const char*>, std::string>> cases = {
      {{"-Z", "-o", "ssl_chain_cert=c,ssl_verify_mode=4"}, "ssl_verify_mode"},
      {{"-Z", "-o", "ssl_chain_cert=c,ssl_verify_mode=x"}, "ssl_verify_mode"},
      {{"-Z", "-o", "ssl_chain_cert=c,ssl_min_version=tlsv1.4"}, "ssl_min_version"},
      {{"-Z", "-o", "ssl_chain_cert"}, "ssl_chain_cert"},
      {{"-Z"}, "-Z needs -o ssl_chain_cert=FILE"},
      {{"-l", "notls:127.0.0.1"}, "'notls' option is valid only when SSL is enabled"},
      {{"-Y", "/etc/users", "-B", "binary"}, "You cannot allow the BINARY protocol"},
      {{"-Y", "/etc/users", "-S"}, "You cannot allow the BINARY protocol"},
  };
  for (const auto& [args, expected] : cases) {
    Settings s;
    ParseOutcome out = Parse(args, &s);
    EXPECT_FALSE(out.ok) << args[0];
    EXPECT_EQ(out.exit_code, kExitUsage) << args[0];
    EXPECT_NE(out.message.find(expected), std::string::npos) << args[0] << ": " << out.message;
  }
}

TEST(TlsSettingsTest, NotlsListenersAndRepeatedListen) {
  Settings s;
  ParseOutcome out =
      Parse({"-Z", "-o", "ssl_chain_cert=c.pem", "-l", "10.0.0.1", "-l", "notls:127.0.0.1"}, &s);
  ASSERT_TRUE(out.ok) << out.message;
  EXPECT_EQ(s.listen, "10.0.0.1,notls:127.0.0.1");  // memcached joins repeated -l with ','
}

TEST(TlsSettingsTest, AuthFileMeansAscii) {
  Settings s;
  ASSERT_TRUE(Parse({"--auth-file", "/etc/twincache/users"}, &s).ok);
  EXPECT_EQ(s.auth_file, "/etc/twincache/users");
  EXPECT_EQ(s.protocol, BindingProtocol::kAscii);
}

TEST(TlsSettingsTest, ConfigFileKeys) {
  std::string path = testing::TempDir() + "/twincached_tls_test.conf";
  {
    std::ofstream f(path);
    f << "enable-ssl = true\nssl_chain_cert = \"/etc/twincache/tls/chain.pem\"\n"
         "ssl_key = \"/etc/twincache/tls/key.pem\"\nssl_verify_mode = 1\nssl_session_cache = true\n"
         "auth-file = \"/etc/twincache/users\"\n";
  }
  Settings s;
  ParseOutcome out = Parse({"--config", path.c_str()}, &s);
  ASSERT_TRUE(out.ok) << out.message;
  EXPECT_TRUE(s.ssl_enabled);
  EXPECT_EQ(s.ssl_chain_cert, "/etc/twincache/tls/chain.pem");
  EXPECT_EQ(s.ssl_key, "/etc/twincache/tls/key.pem");
  EXPECT_EQ(s.ssl_verify_mode, 1);
  EXPECT_TRUE(s.ssl_session_cache);
  EXPECT_EQ(s.auth_file, "/etc/twincache/users");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace twincache
