// Multi-process tests start real child processes from dist/, so make sure it is installed and built first.
module.exports = async () => {
  require('../scripts/ensure.cjs');
};
