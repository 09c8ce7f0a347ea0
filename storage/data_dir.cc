#include "storage/data_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace gtsim {
namespace {

const char kIdFile[] = "region.id";

// -1 when `path` does not exist.
int64_t SizeOf(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return st.st_size;
}

}  // namespace

absl::Status CheckDataDir(const std::string& dir, const std::string& region,
                          const DataDirStart& start) {
  const std::string id_path = absl::StrCat(dir, "/", kIdFile);
  const std::string db_path = absl::StrCat(dir, "/region.db");
  std::string recorded, recorded_cluster;
  if (std::ifstream f(id_path); f) {
    std::getline(f, recorded);
    std::getline(f, recorded_cluster);
    recorded = std::string(absl::StripAsciiWhitespace(recorded));
    recorded_cluster = std::string(absl::StripAsciiWhitespace(recorded_cluster));
    if (!recorded.empty() && recorded != region) {
      return absl::FailedPreconditionError(absl::StrCat(dir, " holds region ", recorded,
                                                        "'s data (", id_path, "), not ", region,
                                                        "'s: use the right --data_dir"));
    }
    // A directory marked before cluster ids existed has none: it is taken as it is.
    if (!recorded_cluster.empty() && recorded_cluster != start.cluster_id) {
      return absl::FailedPreconditionError(absl::StrCat(
          dir, " holds ", region, "'s data of cluster \"", recorded_cluster, "\" (", id_path,
          "), not of cluster \"", start.cluster_id,
          "\": another cluster's data is never mixed in; use that cluster's directory"));
    }
  }
  const bool has_run = !recorded.empty() || start.expect_data;
  const int64_t size = SizeOf(db_path);
  if (!has_run || size > 0 || start.rejoin) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "the database ", db_path, size < 0 ? " is missing" : " is empty (0 bytes)", ", but region ",
      region, " has run before (",
      recorded.empty() ? "cluster.json says so" : absl::StrCat(id_path, " says so"),
      "): its data is lost, and starting it as a new region would silently drop the writes it "
      "acknowledged. Restore region.db (and region.db-wal) from a backup, or start it with "
      "--rejoin (gtsim restart --region ",
      region,
      " --rejoin) to rejoin with an empty database: its peers send back its tables and its own "
      "writes they hold, it re-reads their logs, and its writes that no peer received are "
      "gone"));
}

absl::Status MarkDataDir(const std::string& dir, const std::string& region,
                         const std::string& cluster_id) {
  const std::string id_path = absl::StrCat(dir, "/", kIdFile);
  const std::string tmp = id_path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write ", tmp, ": ", std::strerror(errno)));
  }
  const std::string text = absl::StrCat(region, "\n", cluster_id, "\n");
  bool ok =
      write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && fsync(fd) == 0;
  int saved = errno;
  close(fd);
  if (!ok || rename(tmp.c_str(), id_path.c_str()) != 0) {
    if (ok) saved = errno;
    unlink(tmp.c_str());
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write ", id_path, ": ", std::strerror(saved)));
  }
  if (int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return absl::OkStatus();
}

}  // namespace gtsim
