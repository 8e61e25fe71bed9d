# Sourced by the scripts: runuser (PostgreSQL as a non-root user), ldconfig (apt-get installing
# Chromium) and other system tools live in the sbin directories, which a minimal PATH (cron,
# `env -i`, some CI runners) leaves out.
for _d in /usr/local/sbin /usr/sbin /sbin; do
  case ":$PATH:" in *":$_d:"*) ;; *) [ -d "$_d" ] && PATH="$PATH:$_d" ;; esac
done
unset _d
export PATH
