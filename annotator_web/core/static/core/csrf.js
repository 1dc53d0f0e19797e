// Django's CSRF token, from its cookie, for the pages' own scripts (jobs, queues): every unsafe request sends it.
// (The annotator app, built from frontend/src, has its own in api.ts.)
window.csrfToken = function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
};
