#pragma once
// A scratch directory for one test: made under the system's temporary directory, removed with all
// it holds when the test's scope ends.
#include <boost/filesystem.hpp>

#include <fstream>
#include <string>

namespace matquant::testing {

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "matquant-test")
      : path_(boost::filesystem::temp_directory_path() / boost::filesystem::unique_path(prefix + "-%%%%%%%%")) {
    boost::filesystem::create_directories(path_);
  }
  ~TempDir() {
    boost::system::error_code ignored;
    boost::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string str() const { return path_.string(); }
  // A path inside (nothing is created).
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // Writes `text` to `relative` inside, making its folders; returns the file's path.
  std::string write(const std::string& relative, const std::string& text) const {
    const boost::filesystem::path file = path_ / relative;
    boost::filesystem::create_directories(file.parent_path());
    write_text(file.string(), text);
    return file.string();
  }

 private:
  boost::filesystem::path path_;
};

}  // namespace matquant::testing
