#include "common/atomic_file.h"

#include "common/error.h"

#include <boost/filesystem.hpp>
#include <fcntl.h>
#include <unistd.h>

namespace matquant {

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  if (fd < 0) throw Error(ErrorCode::kIo, "cannot write " + tmp);
  const bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  boost::system::error_code ec;
  if (ok) boost::filesystem::rename(tmp, path, ec);
  if (!ok || ec) {
    boost::filesystem::remove(tmp, ec);
    throw Error(ErrorCode::kIo, "cannot write " + path);
  }
}

}  // namespace matquant
