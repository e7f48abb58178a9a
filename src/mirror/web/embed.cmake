# Turns the web view's files (src/mirror/web/) into one C file of byte
# arrays, km_web_<name> and km_web_<name>_len (dots become underscores),
# each NUL-terminated.  Run by CMakeLists.txt: cmake -DDIR=.. -DOUT=.. -P
set(body "/* generated from src/mirror/web/ by embed.cmake: do not edit */\n#include <stddef.h>\n")
foreach(name index.html app.js app.css)
  file(READ "${DIR}/${name}" hex HEX)
  string(LENGTH "${hex}" n)
  math(EXPR n "${n} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" hex "${hex}")
  string(MAKE_C_IDENTIFIER "km_web_${name}" id)
  string(APPEND body "const unsigned char ${id}[] = {\n${hex}0x00};\nconst size_t ${id}_len = ${n};\n")
endforeach()
file(WRITE "${OUT}.tmp" "${body}")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
