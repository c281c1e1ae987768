// sentinelctl export: a replica's volume, read-only, into a sparse raw image file or onto stdout.
#include <signal.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "proto/wire/option_error.h"
#include "salvage/volume_export.h"
#include "scanner/file_system.h"
#include "tools/sentinelctl/commands.h"
#include "tools/sentinelctl/inventory_output.h"

namespace po = boost::program_options;

namespace sentinel::tools {

namespace {

// Exit code of an export whose output was written but read back differently (and was removed).
constexpr int kExitVerifyFailed = 3;

void print_summary(const v1::ExportReport& r, std::ostream& out) {
  const bool to_stream = r.output() == "-";
  out << "exported volume " << r.volume() << " from " << r.replica_dir() << "\n";
  out << "  chain:   " << r.start_image()
      << (r.chain_size() > 1 ? " and " + std::to_string(r.chain_size() - 1) + " older layer(s)"
                             : std::string(" (no older layers)"))
      << "\n";
  out << "  output:  " << (to_stream ? "standard output" : r.output()) << ", " << human_bytes(r.volume_bytes()) << " ("
      << r.volume_bytes() << " bytes)";
  if (!to_stream) out << ", sparse: " << human_bytes(r.output_allocated_bytes()) << " allocated";
  out << "\n";
  out << "  data:    " << human_bytes(r.data_bytes_read()) << " read from the layers, "
      << human_bytes(r.data_bytes_written()) << " written";
  if (!to_stream && r.zero_bytes_skipped() > 0) {
    out << ", " << human_bytes(r.zero_bytes_skipped()) << " of all-zero blocks left as holes";
  }
  out << "\n";
  if (!r.content_digest().empty()) {
    out << "  digest:  " << r.content_digest() << " (contentDigest, as `scan --deep` computes it)\n";
  }
  switch (r.verify().state()) {
    case v1::ExportVerification::PASSED:
      out << "  verify:  PASSED: the file was read back from storage (" << human_bytes(r.verify().read_bytes())
          << ") and every 4 MiB chunk matches the source\n";
      break;
    case v1::ExportVerification::FAILED:
      out << "  verify:  FAILED: " << r.verify().detail() << "\n";
      break;
    default:
      break;
  }
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.2f s", static_cast<double>(r.duration_ns()) / 1e9);
  out << "  time:    " << seconds << " (reads: " << r.read_backend() << ")\n";
}

}  // namespace

int run_export_command(const CommandArgs& args) {
  po::options_description opts(
      "sentinelctl export --replica DIR [--snapshot NAME] --output FILE|- [--verify] [--force] [--json]\n"
      "\n"
      "Writes the volume held by one Longhorn replica directory, exactly as Longhorn presents it (every 4 KiB\n"
      "block from the newest layer of the chain that has it; holes read as zeros), to a raw image. Nothing under\n"
      "the replica is ever written, renamed or touched (files are opened read-only, without following symlinks,\n"
      "without updating access times), also when the replica is Dirty or Rebuilding: the export then says what\n"
      "that means for the data. No Longhorn engine, iSCSI or privileged container is needed.\n"
      "\n"
      "FILE is a sparse raw image of the volume's size: only blocks holding data are written, holes stay holes.\n"
      "It appears at FILE only when complete (written to a hidden file beside it, fsync'ed, then renamed); a\n"
      "failed export leaves nothing there. An OUTPUT inside the replica directory or the disk's replicas/ tree\n"
      "is refused, whatever path leads there. '-' streams every byte (zeros included) to stdout instead.\n"
      "A replica whose files change during the export (a running engine or rebuild) fails it: detach first.\n"
      "\n"
      "Examples:\n"
      "  # the volume as Longhorn shows it now (head), into a sparse image, read back and checked\n"
      "  sentinelctl export --replica /var/lib/longhorn/replicas/pvc-5adeffdc-ee9d-495e-84ed-fa01318b767d-59dc1016 \\\n"
      "      --output /mnt/rescue/pvc-5adeffdc.img --verify\n"
      "  # the volume as it was when a snapshot was taken (its name as in `scan` output, with or without\n"
      "  # the volume-snap- prefix and .img suffix)\n"
      "  sentinelctl export --replica DIR --snapshot 873ea989-7920-41b5-9ad4-56c4dd10e7a3 --output "
      "/mnt/rescue/at-snap.img\n"
      "  # to another host, kept sparse there\n"
      "  sentinelctl export --replica DIR --output - | ssh rescue 'dd of=/srv/pvc.img bs=1M conv=sparse'\n"
      "  # onto a block device (every byte is written, zeros too)\n"
      "  sentinelctl export --replica DIR --output - | dd of=/dev/sdX bs=4M iflag=fullblock oflag=direct\n"
      "  # then, e.g.: qemu-img convert -f raw -O qcow2 /mnt/rescue/pvc-5adeffdc.img pvc.qcow2\n"
      "\n"
      "Exit codes: 0 exported (and verified, with --verify); 1 could not export (the replica cannot be read,\n"
      "it changed during the export, the output is refused or cannot be written); 2 usage error;\n"
      "3 --verify found the written file differs from the source (the file was removed).\n"
      "\n"
      "Options");
  opts.add_options()("help,h", "show this help")("replica,r", po::value<std::string>(),
                                                 "the replica directory (<disk>/replicas/<volume>-<8 characters>)")(
      "snapshot,s", po::value<std::string>()->default_value(""),
      "export the volume as it was at this snapshot (the chain starting at it) instead of the head")(
      "output,o", po::value<std::string>(), "the image file to create, or - for stdout")(
      "verify", po::bool_switch(),
      "read the written file back from storage and compare every 4 MiB chunk digest "
      "with the source's (not with -)")("force", po::bool_switch(), "replace an existing output file")(
      "progress", po::bool_switch(),
      "print progress on stderr even when it is not a terminal (on a terminal it is always shown)")(
      "json", po::bool_switch(), "print the result as JSON (sentinel.v1.ExportReport) on stdout (not with -)")(
      "compact", po::bool_switch(), "with --json: one line");
  po::positional_options_description no_positionals;
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(opts).positional(no_positionals).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "sentinelctl export: " << sentinel::wire::option_error_text(e, args) << "\n\n" << opts << "\n";
    return kExitUsage;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return kExitOk;
  }
  auto usage = [&](const std::string& why) {
    std::cerr << "sentinelctl export: " << why << "\nRun 'sentinelctl export --help' for examples.\n";
    return kExitUsage;
  };
  if (!vm.count("replica")) return usage("--replica DIR is required");
  if (!vm.count("output")) return usage("--output FILE (or - for stdout) is required");

  salvage::ExportRequest request;
  request.replica_dir = vm["replica"].as<std::string>();
  request.snapshot = vm["snapshot"].as<std::string>();
  request.output = vm["output"].as<std::string>();
  request.verify = vm["verify"].as<bool>();
  request.force = vm["force"].as<bool>();
  const bool json = vm["json"].as<bool>();
  const bool to_stream = request.output == "-";
  if (to_stream && request.verify) return usage("--verify needs an output file: a stream cannot be read back");
  if (to_stream && json) return usage("--json prints to stdout, which - already uses for the image");
  if (to_stream && ::isatty(STDOUT_FILENO)) {
    return usage("refusing to write a raw image to a terminal; redirect or pipe stdout");
  }
  // A reader that goes away (| head) is an error to report, not a signal to die of.
  if (to_stream) ::signal(SIGPIPE, SIG_IGN);

  const bool stderr_tty = ::isatty(STDERR_FILENO) != 0;
  bool progress_shown = false;
  if (stderr_tty || vm["progress"].as<bool>()) {
    request.on_progress = [&](const salvage::ExportProgress& p) {
      progress_shown = true;
      if (stderr_tty) {
        std::cerr << "\r" << salvage::format_progress(p) << "\033[K" << std::flush;
      } else {
        std::cerr << salvage::format_progress(p) << "\n";
      }
    };
  }
  request.on_warning = [](const std::string& warning) { std::cerr << "warning: " << warning << "\n"; };

  sentinel::scanner::PosixFileSystem fs;
  const v1::ExportReport report = salvage::export_volume(fs, request);
  if (progress_shown && stderr_tty) std::cerr << "\n";

  if (json) {
    std::cout << message_to_json(report, !vm["compact"].as<bool>()) << "\n";
  } else if (report.outcome() == v1::ExportReport::EXPORTED || report.outcome() == v1::ExportReport::VERIFY_FAILED) {
    print_summary(report, to_stream ? std::cerr : std::cout);
  }
  switch (report.outcome()) {
    case v1::ExportReport::EXPORTED:
      return kExitOk;
    case v1::ExportReport::VERIFY_FAILED:
      std::cerr << "sentinelctl export: " << report.error() << "\n";
      return kExitVerifyFailed;
    default:
      std::cerr << "sentinelctl export: " << report.error() << "\n";
      if (to_stream) std::cerr << "sentinelctl export: the stream on stdout is incomplete; discard it\n";
      return kExitCouldNotRun;
  }
}

}  // namespace sentinel::tools
